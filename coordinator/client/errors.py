"""The client library's exceptions: the coordinator's own, one per reason, of the same CamelCase
name (STALE_EPOCH -> StaleEpoch), defined once in `coordinator.core.refusals`.

- `Refused` and its subclasses: the cluster said no. Never retried; the state did not change.
- `Unavailable` and its subclasses (NoQuorum, Overloaded, OutcomeUnknown): no confirmed answer
  within the retry budget. The subclass names the last answer received; `maybe_applied` tells
  whether any attempt could have been applied (retry with the same key to find out).
- `NotActive`: an order call on a session that does not hold the role; nothing was sent.
"""

from __future__ import annotations

from coordinator.core.refusals import (
    EXCEPTION_OF_REASON,
    CoordinatorError,
    Halted,
    IdempotencyConflict,
    IllegalTransition,
    InvalidCommand,
    MembershipRefused,
    NoQuorum,
    NotHolder,
    OutcomeUnknown,
    Overfill,
    Overloaded,
    RiskLimit,
    StaleEpoch,
    Unavailable,
    UnknownOrder,
)
from coordinator.core.refusals import Refusal as Refused

__all__ = [
    "CoordinatorError",
    "Halted",
    "IdempotencyConflict",
    "IllegalTransition",
    "InvalidCommand",
    "MembershipRefused",
    "NoQuorum",
    "NotActive",
    "NotHolder",
    "OutcomeUnknown",
    "Overfill",
    "Overloaded",
    "Refused",
    "RiskLimit",
    "StaleEpoch",
    "Unavailable",
    "UnknownOrder",
]
FENCED = (StaleEpoch, NotHolder)  # a write under an epoch that is no longer ours: demote


class NotActive(CoordinatorError):
    """The session does not hold the execution role (never elected, demoted, resigned or
    its local lease ran out). Nothing was sent, unless `maybe_applied` says a call in flight
    when the lease ran out may still have been recorded."""

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


def refusal(reason: str, message: str, field: str = "") -> Refused:
    """The typed exception for a refusal reason (a plain `Refused` for reasons added later)."""
    cls = EXCEPTION_OF_REASON.get(reason)
    if cls is None or not issubclass(cls, Refused):
        return Refused(message, field, reason)
    return cls(message, field, reason)


def unavailable(reason: str, message: str, maybe_applied: bool) -> Unavailable:
    """The exception for a call that got no confirmed answer; `reason` is the last one seen."""
    cls = EXCEPTION_OF_REASON.get(reason)
    if cls is None or not issubclass(cls, Unavailable):
        return Unavailable(message, maybe_applied)
    return cls(message, maybe_applied)

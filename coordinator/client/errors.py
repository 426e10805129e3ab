"""The client library's exceptions, named like the refusal reasons (STALE_EPOCH -> StaleEpoch).

- `Refused` and its subclasses: the cluster said no. Never retried; the state did not change.
- `Unavailable`: the call could not be confirmed within the retry budget. `maybe_applied`
  tells whether it could have been applied (retry with the same key to find out).
- `NotActive`: an order call on a session that does not hold the role; nothing was sent.
"""

from __future__ import annotations


class CoordinatorError(Exception):
    """Base of every error this library raises."""


class Refused(CoordinatorError):
    """The coordinator refused the call. `reason` is the ErrorInfo reason, `field` the bad field."""

    reason = ""

    def __init__(self, message: str, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if reason:
            self.reason = reason


class StaleEpoch(Refused):
    reason = "STALE_EPOCH"


class NotHolder(Refused):
    reason = "NOT_HOLDER"


class RiskLimit(Refused):
    reason = "RISK_LIMIT"


class Halted(Refused):
    reason = "HALTED"


class UnknownOrder(Refused):
    reason = "UNKNOWN_ORDER"


class InvalidCommand(Refused):
    reason = "INVALID_COMMAND"


class IdempotencyConflict(Refused):
    reason = "IDEMPOTENCY_CONFLICT"


class IllegalTransition(Refused):
    reason = "ILLEGAL_TRANSITION"


class Overfill(Refused):
    reason = "OVERFILL"


class MembershipRefused(Refused):
    reason = "MEMBERSHIP_REFUSED"


REFUSALS: dict[str, type[Refused]] = {cls.reason: cls for cls in (
    StaleEpoch, NotHolder, RiskLimit, Halted, UnknownOrder, InvalidCommand, IdempotencyConflict,
    IllegalTransition, Overfill, MembershipRefused)}


class Unavailable(CoordinatorError):
    """No confirmed answer within the retry budget (no quorum, no leader, timeouts)."""

    def __init__(self, message: str, maybe_applied: bool) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class NotActive(CoordinatorError):
    """The session does not hold the execution role (never elected, demoted, resigned or
    its local lease ran out). Nothing was sent, unless `maybe_applied` says a call in flight
    when the lease ran out may still have been recorded."""

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


def refusal(reason: str, message: str, field: str = "") -> Refused:
    """The typed exception for a refusal reason (a plain `Refused` for reasons added later)."""
    cls = REFUSALS.get(reason, Refused)
    return cls(message, field, reason)

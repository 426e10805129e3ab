"""The client library's exceptions: one per reason, of the same CamelCase name (STALE_EPOCH ->
StaleEpoch), built from the one vocabulary in `coordinator.core.refusals`.

- `Refused` and its subclasses: the cluster said no. Never retried; the state did not change.
- `Unavailable` and its subclasses (NoQuorum, Overloaded, OutcomeUnknown): no confirmed answer
  within the retry budget. The subclass names the last answer received; `maybe_applied` tells
  whether any attempt could have been applied (retry with the same key to find out).
- `NotActive`: an order call on a session that does not hold the role; nothing was sent.
"""

from __future__ import annotations

from coordinator.core.refusals import Operating, Reason, camel_name


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


class Unavailable(CoordinatorError):
    """No confirmed answer within the retry budget (no quorum, no leader, timeouts)."""

    reason = ""

    def __init__(self, message: str, maybe_applied: bool) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_applied = maybe_applied


class NotActive(CoordinatorError):
    """The session does not hold the execution role (never elected, demoted, resigned or
    its local lease ran out). Nothing was sent, unless `maybe_applied` says a call in flight
    when the lease ran out may still have been recorded."""

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class StaleEpoch(Refused):
    reason = Reason.STALE_EPOCH


class NotHolder(Refused):
    reason = Reason.NOT_HOLDER


class RiskLimit(Refused):
    reason = Reason.RISK_LIMIT


class Halted(Refused):
    reason = Reason.HALTED


class UnknownOrder(Refused):
    reason = Reason.UNKNOWN_ORDER


class InvalidCommand(Refused):
    reason = Reason.INVALID_COMMAND


class IdempotencyConflict(Refused):
    reason = Reason.IDEMPOTENCY_CONFLICT


class IllegalTransition(Refused):
    reason = Reason.ILLEGAL_TRANSITION


class Overfill(Refused):
    reason = Reason.OVERFILL


class MembershipRefused(Refused):
    reason = Operating.MEMBERSHIP_REFUSED


class NoQuorum(Unavailable):
    reason = Operating.NO_QUORUM


class Overloaded(Unavailable):
    reason = Operating.OVERLOADED


class OutcomeUnknown(Unavailable):
    reason = Operating.OUTCOME_UNKNOWN


def _by_reason() -> dict[str, type[Refused] | type[Unavailable]]:
    """Every reason's exception class, found by its CamelCase name; fails at import when one
    is missing or misnamed, so a reason added to the vocabulary cannot go without one."""
    table: dict[str, type[Refused] | type[Unavailable]] = {}
    for reason in (*Reason, *Operating):
        cls = globals()[camel_name(reason)]
        assert cls.reason == reason, f"{cls.__name__}.reason is {cls.reason!r}, not {reason!r}"
        table[reason] = cls
    return table


BY_REASON = _by_reason()
FENCED = (StaleEpoch, NotHolder)  # a write under an epoch that is no longer ours: demote


def refusal(reason: str, message: str, field: str = "") -> Refused:
    """The typed exception for a refusal reason (a plain `Refused` for reasons added later)."""
    cls = BY_REASON.get(reason)
    if cls is None or not issubclass(cls, Refused):
        return Refused(message, field, reason)
    return cls(message, field, reason)


def unavailable(reason: str, message: str, maybe_applied: bool) -> Unavailable:
    """The exception for a call that got no confirmed answer; `reason` is the last one seen."""
    cls = BY_REASON.get(reason)
    if cls is None or not issubclass(cls, Unavailable):
        return Unavailable(message, maybe_applied)
    return cls(message, maybe_applied)

"""Refusals: the typed, expected outcomes of a command the core will not apply.

A refusal is raised inside the core's validation, caught at the `apply` boundary and returned
as a `Refused` result, so the replicated apply never raises for bad input and a refused command
leaves the state byte-identical.

This module is the one vocabulary of reasons: `Reason` (the core refused) and `Operating` (the
command was not, or not knowably, applied: replication and the server say so). Their values are
the public `ErrorInfo.reason` strings; `coordinator.wire.status` maps each to its gRPC status.
Each reason has one exception class here, of the same CamelCase name (STALE_EPOCH <->
StaleEpoch): the core raises the refusals, and the client library raises the very same classes
when a node answers with that reason. tests/unit/test_reasons.py holds it all in step. Each
command in `commands.py` lists the refusals it can return.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why the core refused a command. Values are the wire spelling."""

    STALE_EPOCH = "STALE_EPOCH"  # epoch is not the current one, or it has ended
    NOT_HOLDER = "NOT_HOLDER"  # the current epoch belongs to another engine
    RISK_LIMIT = "RISK_LIMIT"  # a pre-trade limit would be broken
    HALTED = "HALTED"  # the kill switch is on: no new orders
    UNKNOWN_ORDER = "UNKNOWN_ORDER"  # no order with that client_order_id
    INVALID_COMMAND = "INVALID_COMMAND"  # a field is malformed (field names which)
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"  # key seen before with different fields
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"  # the order's state does not allow it
    OVERFILL = "OVERFILL"  # a fill beyond the order's remaining quantity


class Operating(StrEnum):
    """Why a command was not applied, or may not have been, for reasons outside the core."""

    NO_QUORUM = "NO_QUORUM"  # not applied: no Raft leader could take it; retry
    OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # maybe applied: retry with the same idempotency key
    OVERLOADED = "OVERLOADED"  # not applied: the proposal queue is full; back off
    # not applied: the change is unsafe or one is in flight
    MEMBERSHIP_REFUSED = "MEMBERSHIP_REFUSED"

    @property
    def retryable(self) -> bool:
        """True when the same request may simply be sent again (after a backoff)."""
        return self is not Operating.MEMBERSHIP_REFUSED

    @property
    def maybe_applied(self) -> bool:
        return self is Operating.OUTCOME_UNKNOWN


def camel_name(reason: str) -> str:
    """STALE_EPOCH -> StaleEpoch: the exception name for a reason, in the core and the client."""
    return "".join(word.capitalize() for word in reason.split("_"))


class CoordinatorError(Exception):
    """Base of every error the coordinator reports to an engine or an operator."""


class Refusal(CoordinatorError):
    """The coordinator refused a command; it did not change the state. `reason` is the
    ErrorInfo reason, `field` names the offending field when there is one. The core raises
    these inside `apply`; the client library raises the same classes when a node answers so."""

    reason: str = Reason.INVALID_COMMAND

    def __init__(self, message: str, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if reason:
            self.reason = reason


class Unavailable(CoordinatorError):
    """No confirmed answer within the retry budget (no quorum, no leader, timeouts).
    `maybe_applied` tells whether any attempt could have been applied."""

    reason: str = ""

    def __init__(self, message: str, maybe_applied: bool) -> None:
        super().__init__(message)
        self.message = message
        self.maybe_applied = maybe_applied


class StaleEpoch(Refusal):
    reason = Reason.STALE_EPOCH


class NotHolder(Refusal):
    reason = Reason.NOT_HOLDER


class RiskLimit(Refusal):
    reason = Reason.RISK_LIMIT


class Halted(Refusal):
    reason = Reason.HALTED


class UnknownOrder(Refusal):
    reason = Reason.UNKNOWN_ORDER


class InvalidCommand(Refusal):
    reason = Reason.INVALID_COMMAND


class IdempotencyConflict(Refusal):
    reason = Reason.IDEMPOTENCY_CONFLICT


class IllegalTransition(Refusal):
    reason = Reason.ILLEGAL_TRANSITION


class Overfill(Refusal):
    reason = Reason.OVERFILL


class MembershipRefused(Refusal):
    reason = Operating.MEMBERSHIP_REFUSED


class NoQuorum(Unavailable):
    reason = Operating.NO_QUORUM


class Overloaded(Unavailable):
    reason = Operating.OVERLOADED


class OutcomeUnknown(Unavailable):
    reason = Operating.OUTCOME_UNKNOWN


def _by_reason() -> dict[str, type[Refusal] | type[Unavailable]]:
    """Every reason's exception class, found by its CamelCase name; fails at import when one
    is missing or misnamed, so no reason can be added to the vocabulary without one."""
    table: dict[str, type[Refusal] | type[Unavailable]] = {}
    for reason in (*Reason, *Operating):
        cls = globals()[camel_name(reason)]
        assert cls.reason == reason, f"{cls.__name__}.reason is {cls.reason!r}, not {reason!r}"
        table[reason] = cls
    return table


EXCEPTION_OF_REASON = _by_reason()

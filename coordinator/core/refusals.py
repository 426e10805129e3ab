"""Refusals: the typed, expected outcomes of a command the core will not apply.

A refusal is raised inside the core's validation, caught at the `apply` boundary and returned
as a `Refused` result, so the replicated apply never raises for bad input and a refused command
leaves the state byte-identical. The reason names are the public `ErrorInfo.reason` strings and
the client library's exception names (STALE_EPOCH <-> StaleEpoch): keep the three in step.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why the core refused a command. Values are the wire spelling."""

    STALE_EPOCH = "STALE_EPOCH"                    # epoch is not the current one, or it has ended
    NOT_HOLDER = "NOT_HOLDER"                      # the current epoch belongs to another engine
    RISK_LIMIT = "RISK_LIMIT"                      # a pre-trade limit would be broken
    HALTED = "HALTED"                              # the kill switch is on: no new orders
    UNKNOWN_ORDER = "UNKNOWN_ORDER"                # no order with that client_order_id
    INVALID_COMMAND = "INVALID_COMMAND"            # a field is malformed (field names which)
    IDEMPOTENCY_CONFLICT = "IDEMPOTENCY_CONFLICT"  # key seen before with different fields
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"      # the order's state does not allow it
    OVERFILL = "OVERFILL"                          # a fill beyond the order's remaining quantity


class Refusal(Exception):
    """Base of every core refusal. `field` names the offending field when there is one."""

    reason: Reason = Reason.INVALID_COMMAND

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


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

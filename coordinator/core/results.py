"""What `apply` returns: one result type per kind of command, or `Refused`."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.model import Order, Position
from coordinator.core.refusals import Reason


@dataclass(frozen=True, slots=True)
class CampaignResult:
    granted: bool
    epoch: int  # the granted epoch, or the current one when not granted
    holder_id: str  # "" when the role is free (reserved for a hand-off, say)
    ttl_ms: int
    duplicate: bool
    # The warm-takeover book, as of this command's position in the log (only when granted).
    open_orders: tuple[Order, ...] = ()
    positions: tuple[Position, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseResult:
    epoch: int
    ttl_ms: int
    lease_seq: int
    handoff_to: str


@dataclass(frozen=True, slots=True)
class OrderResult:
    order: Order
    duplicate: bool


@dataclass(frozen=True, slots=True)
class FillResult:
    order: Order
    position: Position
    duplicate: bool


@dataclass(frozen=True, slots=True)
class Ack:
    """Accepted; nothing to return but whether it was already so."""

    duplicate: bool = False
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class Refused:
    reason: Reason
    message: str
    field: str = ""


Result = CampaignResult | LeaseResult | OrderResult | FillResult | Ack | Refused


def outcome_name(result: Result) -> str:
    """What the audit trail says the state machine did: ACCEPTED, DUPLICATE, a refusal reason,
    or for campaigns GRANTED / NOT_GRANTED."""
    if isinstance(result, Refused):
        return str(result.reason)
    if getattr(result, "duplicate", False):
        return "DUPLICATE"
    if isinstance(result, CampaignResult):
        return "GRANTED" if result.granted else "NOT_GRANTED"
    return "ACCEPTED"

"""The commands the state machine applies, one frozen dataclass each.

They arrive through the Raft log (the envelope codec lives in coordinator.replication) and are
applied with the leader-stamped `issued_at_ns`. Field values are already parsed (Decimal,
Side, ...) but not yet validated: validation is the state machine's job, in `validation.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coordinator.core.model import OrderStatus, RiskLimits, Side


@dataclass(frozen=True, slots=True)
class Campaign:
    engine_id: str
    ttl_ms: int
    request_id: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    engine_id: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Expire:
    """Proposed by the Raft leader's lease timer for the lease (epoch, lease_seq) it timed."""

    epoch: int
    lease_seq: int


@dataclass(frozen=True, slots=True)
class Resign:
    engine_id: str
    epoch: int
    successor_engine_id: str = ""


@dataclass(frozen=True, slots=True)
class RequestHandoff:
    """An operator asks the holder to drain and resign in favour of `to_engine_id`."""

    to_engine_id: str


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    engine_id: str
    epoch: int
    client_order_id: str
    account: str
    instrument: str
    side: Side
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class UpdateOrder:
    engine_id: str
    epoch: int
    client_order_id: str
    status: OrderStatus         # OPEN (venue ack), REJECTED or CANCELED (cancel confirmed)
    venue_order_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    engine_id: str
    epoch: int
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ReportFill:
    engine_id: str
    epoch: int
    fill_id: str
    client_order_id: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class SetRiskLimits:
    account: str
    instrument: str
    limits: RiskLimits


@dataclass(frozen=True, slots=True)
class Halt:
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    pass


@dataclass(frozen=True, slots=True)
class Barrier:
    """Changes nothing. Once applied, everything committed before it is visible."""


EngineWrite = SubmitOrder | UpdateOrder | CancelOrder | ReportFill
Command = (
    Campaign | KeepAlive | Expire | Resign | RequestHandoff | SubmitOrder | UpdateOrder
    | CancelOrder | ReportFill | SetRiskLimits | Halt | Resume | Barrier
)

"""The commands the state machine applies, one frozen dataclass each.

They arrive through the Raft log (coordinator.wire.commands converts them, the envelope lives in
coordinator.replication) and are applied with the leader-stamped `issued_at_ns`. Field values are
already parsed (Decimal, Side, ...) but not yet validated: validation is the state machine's job,
in `validation.py`. Each command's `refusals` lists every reason `apply` can refuse it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.core.refusals import Reason

R = Reason
_FENCED = frozenset({R.INVALID_COMMAND, R.STALE_EPOCH, R.NOT_HOLDER})


@dataclass(frozen=True, slots=True)
class Campaign:
    refusals: ClassVar[frozenset[Reason]] = frozenset({R.INVALID_COMMAND, R.IDEMPOTENCY_CONFLICT})
    engine_id: str
    ttl_ms: int
    request_id: str


@dataclass(frozen=True, slots=True)
class KeepAlive:
    refusals: ClassVar[frozenset[Reason]] = _FENCED
    engine_id: str
    epoch: int


@dataclass(frozen=True, slots=True)
class Expire:
    """Proposed by the Raft leader's lease timer for the lease (epoch, lease_seq) it timed."""

    refusals: ClassVar[frozenset[Reason]] = frozenset({R.STALE_EPOCH})
    epoch: int
    lease_seq: int


@dataclass(frozen=True, slots=True)
class Resign:
    refusals: ClassVar[frozenset[Reason]] = _FENCED
    engine_id: str
    epoch: int
    successor_engine_id: str = ""


@dataclass(frozen=True, slots=True)
class RequestHandoff:
    """An operator asks the holder to drain and resign in favour of `to_engine_id`."""

    refusals: ClassVar[frozenset[Reason]] = frozenset({R.INVALID_COMMAND, R.NOT_HOLDER})
    to_engine_id: str


@dataclass(frozen=True, slots=True)
class SubmitOrder:
    refusals: ClassVar[frozenset[Reason]] = _FENCED | {
        R.IDEMPOTENCY_CONFLICT,
        R.HALTED,
        R.RISK_LIMIT,
    }
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
    refusals: ClassVar[frozenset[Reason]] = _FENCED | {
        R.UNKNOWN_ORDER,
        R.IDEMPOTENCY_CONFLICT,
        R.ILLEGAL_TRANSITION,
    }
    engine_id: str
    epoch: int
    client_order_id: str
    status: OrderStatus  # OPEN (venue ack), REJECTED or CANCELED (cancel confirmed)
    venue_order_id: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CancelOrder:
    refusals: ClassVar[frozenset[Reason]] = _FENCED | {R.UNKNOWN_ORDER, R.ILLEGAL_TRANSITION}
    engine_id: str
    epoch: int
    client_order_id: str


@dataclass(frozen=True, slots=True)
class ReportFill:
    refusals: ClassVar[frozenset[Reason]] = _FENCED | {
        R.UNKNOWN_ORDER,
        R.IDEMPOTENCY_CONFLICT,
        R.ILLEGAL_TRANSITION,
        R.OVERFILL,
    }
    engine_id: str
    epoch: int
    fill_id: str
    client_order_id: str
    quantity: Decimal
    price: Decimal


@dataclass(frozen=True, slots=True)
class SetRiskLimits:
    refusals: ClassVar[frozenset[Reason]] = frozenset({R.INVALID_COMMAND})
    account: str
    instrument: str
    limits: RiskLimits


@dataclass(frozen=True, slots=True)
class Halt:
    refusals: ClassVar[frozenset[Reason]] = frozenset({R.INVALID_COMMAND})
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    refusals: ClassVar[frozenset[Reason]] = frozenset()


@dataclass(frozen=True, slots=True)
class Barrier:
    """Changes nothing. Once applied, everything committed before it is visible."""

    refusals: ClassVar[frozenset[Reason]] = frozenset()


EngineWrite = SubmitOrder | UpdateOrder | CancelOrder | ReportFill
Command = (
    Campaign
    | KeepAlive
    | Expire
    | Resign
    | RequestHandoff
    | SubmitOrder
    | UpdateOrder
    | CancelOrder
    | ReportFill
    | SetRiskLimits
    | Halt
    | Resume
    | Barrier
)

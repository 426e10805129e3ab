"""The values the coordinator keeps: orders, fills, positions, the lease, risk limits.

All are frozen: the state machine replaces a record rather than mutating it, so a reader on
another thread that holds a record never sees it change underneath it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from coordinator.core.numbers import CONTEXT, ZERO


class WireEnum(IntEnum):
    """A wire enum that compares as its number and prints as its name (str, format, f-strings),
    so that an engine's log line says PENDING_NEW, not 1."""

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec)


class Side(WireEnum):
    """Wire values match coordinator.v1.Side."""

    BUY = 1
    SELL = 2


class OrderStatus(WireEnum):
    """Wire values match coordinator.v1.OrderStatus."""

    PENDING_NEW = 1
    OPEN = 2
    PARTIALLY_FILLED = 3
    FILLED = 4
    CANCELED = 5
    REJECTED = 6

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED})


@dataclass(frozen=True, slots=True)
class Order:
    client_order_id: str
    account: str
    instrument: str
    side: Side
    quantity: Decimal
    price: Decimal
    status: OrderStatus
    filled_quantity: Decimal
    average_fill_price: Decimal | None
    venue_order_id: str
    cancel_requested: bool
    epoch: int
    engine_id: str
    created_at_ns: int
    updated_at_ns: int
    reject_reason: str

    @property
    def remaining_quantity(self) -> Decimal:
        return CONTEXT.subtract(self.quantity, self.filled_quantity)

    @property
    def is_open(self) -> bool:
        return not self.status.is_terminal


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    client_order_id: str
    quantity: Decimal
    price: Decimal
    seq: int  # 1, 2, 3, ... in log order: positions are a fold of fills in this order
    epoch: int
    engine_id: str
    filled_at_ns: int


@dataclass(frozen=True, slots=True)
class Position:
    account: str
    instrument: str
    quantity: Decimal  # signed: positive long, negative short
    average_price: Decimal  # of the open quantity; zero when flat
    realized_pnl: Decimal

    @staticmethod
    def flat(account: str, instrument: str) -> Position:
        return Position(account, instrument, ZERO, ZERO, ZERO)


@dataclass(frozen=True, slots=True)
class Lease:
    """The current grant of the execution role."""

    engine_id: str
    epoch: int
    ttl_ms: int
    granted_at_ns: int
    renewed_at_ns: int
    lease_seq: int  # keep-alives applied in this epoch; an Expire names the one it timed


@dataclass(frozen=True, slots=True)
class Release:
    """How the last epoch ended: kept so that a retried Resign is answered, not refused."""

    epoch: int
    engine_id: str
    cause: str  # "resigned" | "expired"
    released_at_ns: int


@dataclass(frozen=True, slots=True)
class Reservation:
    """A planned hand-off: the next grant is reserved for `engine_id` until `until_ns`."""

    engine_id: str
    until_ns: int


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """None means no limit."""

    order_quantity_max: Decimal | None = None
    position_max: Decimal | None = None
    open_orders_max: int | None = None


ANY = "*"


@dataclass(frozen=True, slots=True)
class ScopedRiskLimits:
    account: str  # ANY matches every account
    instrument: str  # ANY matches every instrument
    limits: RiskLimits


@dataclass(frozen=True, slots=True)
class Leadership:
    """A read of who holds the execution role."""

    epoch: int  # the last epoch granted (0 before the first grant)
    holder: Lease | None
    handoff_to: str  # an operator asked the holder to hand off to this engine
    reservation: Reservation | None
    last_release: Release | None

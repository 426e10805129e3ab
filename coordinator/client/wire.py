"""Response messages to the library's values (the core's frozen records, with Decimals)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coordinator.core.model import Order, OrderStatus, Position, Side
from coordinator.core.numbers import canonical
from coordinator.v1 import types_pb2


def _decimal(text: str) -> Decimal:
    return canonical(Decimal(text or "0"))


def order(o: types_pb2.Order) -> Order:
    return Order(
        client_order_id=o.client_order_id, account=o.account, instrument=o.instrument, side=Side(o.side),
        quantity=_decimal(o.quantity), price=_decimal(o.price), status=OrderStatus(o.status),
        filled_quantity=_decimal(o.filled_quantity),
        average_fill_price=_decimal(o.average_fill_price) if o.average_fill_price else None,
        venue_order_id=o.venue_order_id, cancel_requested=o.cancel_requested, epoch=o.epoch, engine_id=o.engine_id,
        created_at_ns=o.created_at_ns, updated_at_ns=o.updated_at_ns, reject_reason=o.reject_reason)


def position(p: types_pb2.Position) -> Position:
    return Position(p.account, p.instrument, _decimal(p.quantity), _decimal(p.average_price),
                    _decimal(p.realized_pnl))


@dataclass(frozen=True, slots=True)
class Grant:
    """What `on_elected` receives: the epoch to stamp on every write, and the warm book."""

    engine_id: str
    epoch: int
    ttl_ms: int
    open_orders: tuple[Order, ...]
    positions: tuple[Position, ...]
    resumed: bool = False    # re-acquired the same epoch after a lost lease (no one else held it)


@dataclass(frozen=True, slots=True)
class LeadershipEvent:
    """One item of `observe()`: who holds the execution role, as a node has applied it."""

    epoch: int
    holder_id: str           # "" when the role is free
    ttl_ms: int
    node_id: str
    applied_index: int
    handoff_to: str
    changed_at_ns: int

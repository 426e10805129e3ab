"""The core's records (orders, positions, risk limits) and enums to and from their protobuf
messages. The server renders with the `*_to_wire` functions, the engine library reads with the
`*_from_wire` ones; decimals travel as canonical strings.
"""

from __future__ import annotations

from decimal import Decimal

from coordinator.core.model import (
    Fill,
    Order,
    OrderStatus,
    Position,
    RiskLimits,
    ScopedRiskLimits,
    Side,
)
from coordinator.core.numbers import canonical, format_decimal, parse_decimal
from coordinator.core.refusals import InvalidCommand
from coordinator.v1 import types_pb2

# ------------------------------------------------------------------------ enums


def side_from_wire(value: int) -> Side:
    """The core Side for a wire enum value; InvalidCommand for UNSPECIFIED or unknown values."""
    try:
        return Side(value)
    except ValueError:
        raise InvalidCommand(f"side must be BUY or SELL, got {value}", "side") from None


def status_from_wire(value: int) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError:
        raise InvalidCommand(f"status {value} is not an order status", "status") from None


# ----------------------------------------------------------------- risk limits


def limits_to_wire(limits: RiskLimits) -> types_pb2.RiskLimits:
    """Core limits to wire limits: no limit is "" (decimals) or 0 (counts)."""
    return types_pb2.RiskLimits(
        order_quantity_max=_optional_text(limits.order_quantity_max),
        position_max=_optional_text(limits.position_max),
        open_orders_max=limits.open_orders_max or 0,
    )


def limits_from_wire(limits: types_pb2.RiskLimits) -> RiskLimits:
    """Wire limits to core limits: "" and 0 mean no limit."""

    def optional(field: str, text: str) -> Decimal | None:
        return None if text == "" else parse_decimal(field, text)

    return RiskLimits(
        order_quantity_max=optional("limits.order_quantity_max", limits.order_quantity_max),
        position_max=optional("limits.position_max", limits.position_max),
        open_orders_max=limits.open_orders_max or None,
    )


def scoped_limits_to_wire(s: ScopedRiskLimits) -> types_pb2.ScopedRiskLimits:
    return types_pb2.ScopedRiskLimits(
        account=s.account, instrument=s.instrument, limits=limits_to_wire(s.limits)
    )


# -------------------------------------------------------------- orders, positions


def order_to_wire(o: Order) -> types_pb2.Order:
    return types_pb2.Order(
        client_order_id=o.client_order_id,
        account=o.account,
        instrument=o.instrument,
        side=types_pb2.Side.ValueType(o.side),
        quantity=format_decimal(o.quantity),
        price=format_decimal(o.price),
        status=types_pb2.OrderStatus.ValueType(o.status),
        filled_quantity=format_decimal(o.filled_quantity),
        average_fill_price=_optional_text(o.average_fill_price),
        venue_order_id=o.venue_order_id,
        cancel_requested=o.cancel_requested,
        epoch=o.epoch,
        engine_id=o.engine_id,
        created_at_ns=o.created_at_ns,
        updated_at_ns=o.updated_at_ns,
        reject_reason=o.reject_reason,
    )


def order_from_wire(o: types_pb2.Order) -> Order:
    return Order(
        client_order_id=o.client_order_id,
        account=o.account,
        instrument=o.instrument,
        side=Side(o.side),
        quantity=_decimal(o.quantity),
        price=_decimal(o.price),
        status=OrderStatus(o.status),
        filled_quantity=_decimal(o.filled_quantity),
        average_fill_price=_decimal(o.average_fill_price) if o.average_fill_price else None,
        venue_order_id=o.venue_order_id,
        cancel_requested=o.cancel_requested,
        epoch=o.epoch,
        engine_id=o.engine_id,
        created_at_ns=o.created_at_ns,
        updated_at_ns=o.updated_at_ns,
        reject_reason=o.reject_reason,
    )


def fill_to_wire(f: Fill) -> types_pb2.Fill:
    return types_pb2.Fill(
        fill_id=f.fill_id,
        client_order_id=f.client_order_id,
        quantity=format_decimal(f.quantity),
        price=format_decimal(f.price),
        epoch=f.epoch,
        engine_id=f.engine_id,
        filled_at_ns=f.filled_at_ns,
        seq=f.seq,
    )


def fill_from_wire(f: types_pb2.Fill) -> Fill:
    return Fill(
        fill_id=f.fill_id,
        client_order_id=f.client_order_id,
        quantity=_decimal(f.quantity),
        price=_decimal(f.price),
        seq=f.seq,
        epoch=f.epoch,
        engine_id=f.engine_id,
        filled_at_ns=f.filled_at_ns,
    )


def position_to_wire(p: Position) -> types_pb2.Position:
    return types_pb2.Position(
        account=p.account,
        instrument=p.instrument,
        quantity=format_decimal(p.quantity),
        average_price=format_decimal(p.average_price),
        realized_pnl=format_decimal(p.realized_pnl),
    )


def position_from_wire(p: types_pb2.Position) -> Position:
    return Position(
        p.account,
        p.instrument,
        _decimal(p.quantity),
        _decimal(p.average_price),
        _decimal(p.realized_pnl),
    )


def _optional_text(value: Decimal | None) -> str:
    return "" if value is None else format_decimal(value)


def _decimal(text: str) -> Decimal:
    return canonical(Decimal(text or "0"))

"""Translation between the public protobuf messages and core commands and records.

Requests become core commands (parsing decimals and enums; a malformed field raises the core's
InvalidCommand naming it). Core records become response messages. No decisions are made here.
"""

from __future__ import annotations

from coordinator.core import commands as c
from coordinator.core.model import Order, Position, ScopedRiskLimits
from coordinator.core.numbers import format_decimal, parse_decimal
from coordinator.core.results import CampaignResult
from coordinator.replication.envelope import limits_from_wire, side_from_wire, status_from_wire
from coordinator.v1 import admin_pb2, engine_pb2, types_pb2

# ------------------------------------------------------------------ requests -> commands


def campaign(r: engine_pb2.CampaignRequest) -> c.Campaign:
    return c.Campaign(r.engine_id, r.ttl_ms, r.request_id)


def keep_alive(r: engine_pb2.KeepAliveRequest) -> c.KeepAlive:
    return c.KeepAlive(r.engine_id, r.epoch)


def resign(r: engine_pb2.ResignRequest) -> c.Resign:
    return c.Resign(r.engine_id, r.epoch, r.successor_engine_id)


def submit_order(r: engine_pb2.SubmitOrderRequest) -> c.SubmitOrder:
    return c.SubmitOrder(r.engine_id, r.epoch, r.client_order_id, r.account, r.instrument, side_from_wire(r.side),
                         parse_decimal("quantity", r.quantity), parse_decimal("price", r.price))


def update_order(r: engine_pb2.UpdateOrderRequest) -> c.UpdateOrder:
    return c.UpdateOrder(r.engine_id, r.epoch, r.client_order_id, status_from_wire(r.status), r.venue_order_id,
                         r.reason)


def cancel_order(r: engine_pb2.CancelOrderRequest) -> c.CancelOrder:
    return c.CancelOrder(r.engine_id, r.epoch, r.client_order_id)


def report_fill(r: engine_pb2.ReportFillRequest) -> c.ReportFill:
    return c.ReportFill(r.engine_id, r.epoch, r.fill_id, r.client_order_id, parse_decimal("quantity", r.quantity),
                        parse_decimal("price", r.price))


def halt(r: admin_pb2.HaltRequest) -> c.Halt:
    return c.Halt(r.reason)


def resume(_r: admin_pb2.ResumeRequest) -> c.Resume:
    return c.Resume()


def set_risk_limits(r: admin_pb2.SetRiskLimitsRequest) -> c.SetRiskLimits:
    return c.SetRiskLimits(r.account, r.instrument, limits_from_wire(r.limits))


# ------------------------------------------------------------------ records -> messages


def order(o: Order) -> types_pb2.Order:
    return types_pb2.Order(
        client_order_id=o.client_order_id, account=o.account, instrument=o.instrument,
        side=types_pb2.Side.ValueType(o.side), quantity=format_decimal(o.quantity), price=format_decimal(o.price),
        status=types_pb2.OrderStatus.ValueType(o.status), filled_quantity=format_decimal(o.filled_quantity),
        average_fill_price="" if o.average_fill_price is None else format_decimal(o.average_fill_price),
        venue_order_id=o.venue_order_id, cancel_requested=o.cancel_requested, epoch=o.epoch, engine_id=o.engine_id,
        created_at_ns=o.created_at_ns, updated_at_ns=o.updated_at_ns, reject_reason=o.reject_reason)


def position(p: Position) -> types_pb2.Position:
    return types_pb2.Position(account=p.account, instrument=p.instrument, quantity=format_decimal(p.quantity),
                              average_price=format_decimal(p.average_price),
                              realized_pnl=format_decimal(p.realized_pnl))


def scoped_limits(s: ScopedRiskLimits) -> types_pb2.ScopedRiskLimits:
    limits = s.limits
    return types_pb2.ScopedRiskLimits(account=s.account, instrument=s.instrument, limits=types_pb2.RiskLimits(
        order_quantity_max="" if limits.order_quantity_max is None else format_decimal(limits.order_quantity_max),
        position_max="" if limits.position_max is None else format_decimal(limits.position_max),
        open_orders_max=limits.open_orders_max or 0))


def campaign_response(result: CampaignResult) -> engine_pb2.CampaignResponse:
    return engine_pb2.CampaignResponse(
        granted=result.granted, epoch=result.epoch, holder_id=result.holder_id, ttl_ms=result.ttl_ms,
        open_orders=[order(o) for o in result.open_orders], positions=[position(p) for p in result.positions],
        duplicate=result.duplicate)

"""Core commands to and from their protobuf messages: the Raft log's `coordinator.v1.Command`
bodies and the gRPC requests, which carry the same fields under the same names.

Decoding parses decimals and enums; a malformed field raises the core's InvalidCommand naming
it. The log envelope (replication/envelope.py) and the server's handlers both use these.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordinator.core import commands as c
from coordinator.core.numbers import format_decimal, parse_decimal
from coordinator.v1 import command_pb2, engine_pb2, types_pb2
from coordinator.wire.records import (
    limits_from_wire,
    limits_to_wire,
    side_from_wire,
    status_from_wire,
)

# ----------------------------------------------------------- messages -> commands
# Each takes a log body or the request of the same name (the fields are the same).


# Engine.OrderStream: each order write's unary RPC ("SubmitOrder") -> the field of
# OrderStreamRequest's `command` oneof (and of OrderStreamResponse's `result`) that carries it,
# read from the contract itself.
ORDER_STREAM_FIELD: dict[str, str] = {
    field.message_type.name.removesuffix("Request"): field.name
    for field in engine_pb2.OrderStreamRequest.DESCRIPTOR.oneofs_by_name["command"].fields
    if field.message_type is not None
}


def campaign(m: Any) -> c.Campaign:
    return c.Campaign(m.engine_id, m.ttl_ms, m.request_id)


def keep_alive(m: Any) -> c.KeepAlive:
    return c.KeepAlive(m.engine_id, m.epoch)


def expire(m: Any) -> c.Expire:
    return c.Expire(m.epoch, m.lease_seq)


def resign(m: Any) -> c.Resign:
    return c.Resign(m.engine_id, m.epoch, m.successor_engine_id)


def request_handoff(m: Any) -> c.RequestHandoff:
    return c.RequestHandoff(m.to_engine_id)


def submit_order(m: Any) -> c.SubmitOrder:
    return c.SubmitOrder(
        m.engine_id,
        m.epoch,
        m.client_order_id,
        m.account,
        m.instrument,
        side_from_wire(m.side),
        parse_decimal("quantity", m.quantity),
        parse_decimal("price", m.price),
    )


def update_order(m: Any) -> c.UpdateOrder:
    return c.UpdateOrder(
        m.engine_id,
        m.epoch,
        m.client_order_id,
        status_from_wire(m.status),
        m.venue_order_id,
        m.reason,
    )


def cancel_order(m: Any) -> c.CancelOrder:
    return c.CancelOrder(m.engine_id, m.epoch, m.client_order_id)


def report_fill(m: Any) -> c.ReportFill:
    return c.ReportFill(
        m.engine_id,
        m.epoch,
        m.fill_id,
        m.client_order_id,
        parse_decimal("quantity", m.quantity),
        parse_decimal("price", m.price),
    )


def set_risk_limits(m: Any) -> c.SetRiskLimits:
    return c.SetRiskLimits(m.account, m.instrument, limits_from_wire(m.limits))


def halt(m: Any) -> c.Halt:
    return c.Halt(m.reason)


def resume(_m: Any) -> c.Resume:
    return c.Resume()


def barrier(_m: Any) -> c.Barrier:
    return c.Barrier()


FROM_BODY: dict[str, Callable[[Any], c.Command]] = {
    "campaign": campaign,
    "keep_alive": keep_alive,
    "expire": expire,
    "resign": resign,
    "request_handoff": request_handoff,
    "submit_order": submit_order,
    "update_order": update_order,
    "cancel_order": cancel_order,
    "report_fill": report_fill,
    "set_risk_limits": set_risk_limits,
    "halt": halt,
    "resume": resume,
    "barrier": barrier,
}

# ------------------------------------------------------------ commands -> log bodies

C = command_pb2.Command
_TO_BODY: dict[type, Callable[[Any], Any]] = {
    c.Campaign: lambda m: C.Campaign(
        engine_id=m.engine_id, ttl_ms=m.ttl_ms, request_id=m.request_id
    ),
    c.KeepAlive: lambda m: C.KeepAlive(engine_id=m.engine_id, epoch=m.epoch),
    c.Expire: lambda m: C.Expire(epoch=m.epoch, lease_seq=m.lease_seq),
    c.Resign: lambda m: C.Resign(
        engine_id=m.engine_id, epoch=m.epoch, successor_engine_id=m.successor_engine_id
    ),
    c.RequestHandoff: lambda m: C.RequestHandoff(to_engine_id=m.to_engine_id),
    c.SubmitOrder: lambda m: C.SubmitOrder(
        engine_id=m.engine_id,
        epoch=m.epoch,
        client_order_id=m.client_order_id,
        account=m.account,
        instrument=m.instrument,
        side=types_pb2.Side.ValueType(m.side),
        quantity=format_decimal(m.quantity),
        price=format_decimal(m.price),
    ),
    c.UpdateOrder: lambda m: C.UpdateOrder(
        engine_id=m.engine_id,
        epoch=m.epoch,
        client_order_id=m.client_order_id,
        status=types_pb2.OrderStatus.ValueType(m.status),
        venue_order_id=m.venue_order_id,
        reason=m.reason,
    ),
    c.CancelOrder: lambda m: C.CancelOrder(
        engine_id=m.engine_id, epoch=m.epoch, client_order_id=m.client_order_id
    ),
    c.ReportFill: lambda m: C.ReportFill(
        engine_id=m.engine_id,
        epoch=m.epoch,
        fill_id=m.fill_id,
        client_order_id=m.client_order_id,
        quantity=format_decimal(m.quantity),
        price=format_decimal(m.price),
    ),
    c.SetRiskLimits: lambda m: C.SetRiskLimits(
        account=m.account, instrument=m.instrument, limits=limits_to_wire(m.limits)
    ),
    c.Halt: lambda m: C.Halt(reason=m.reason),
    c.Resume: lambda m: C.Resume(),
    c.Barrier: lambda m: C.Barrier(),
}
BODY_FIELD: dict[type, str] = {
    c.Campaign: "campaign",
    c.KeepAlive: "keep_alive",
    c.Expire: "expire",
    c.Resign: "resign",
    c.RequestHandoff: "request_handoff",
    c.SubmitOrder: "submit_order",
    c.UpdateOrder: "update_order",
    c.CancelOrder: "cancel_order",
    c.ReportFill: "report_fill",
    c.SetRiskLimits: "set_risk_limits",
    c.Halt: "halt",
    c.Resume: "resume",
    c.Barrier: "barrier",
}


def to_body(command: c.Command) -> tuple[str, Any]:
    """The `Command` oneof field name and its message for `command`."""
    return BODY_FIELD[type(command)], _TO_BODY[type(command)](command)

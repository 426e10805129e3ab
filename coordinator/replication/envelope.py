"""The Raft log's entry format: core commands to and from the versioned protobuf envelope.

Every coordinator entry in the log is ENTRY_TYPE (one byte, 0x10) followed by a serialized
`coordinator.v1.Command`. No pickle: the log outlives any one release, and a node can always
tell an entry it does not understand (`EnvelopeError`) from a command the core refuses.

`decode` is total over bytes: it returns a command or raises EnvelopeError (a ValueError),
never anything else, so the replicated apply can turn any unreadable entry into a refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from google.protobuf.message import DecodeError

from coordinator.core import commands as c
from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.core.numbers import format_decimal, parse_decimal
from coordinator.core.refusals import InvalidCommand
from coordinator.v1 import command_pb2, types_pb2

ENTRY_TYPE = 0x10
ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """Bytes that are not a command this node understands. `field` names the culprit."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def encode(command: c.Command, issued_at_ns: int) -> bytes:
    """The entry payload (without the ENTRY_TYPE byte) for `command`."""
    envelope = command_pb2.Command(version=ENVELOPE_VERSION, issued_at_ns=issued_at_ns)
    body = _ENCODERS[type(command)](command)
    getattr(envelope, _FIELD[type(command)]).CopyFrom(body)
    return envelope.SerializeToString()


def decode(payload: bytes) -> tuple[c.Command, int]:
    """The command and its issued_at_ns. Raises EnvelopeError for anything else."""
    envelope = command_pb2.Command()
    try:
        envelope.ParseFromString(payload)
    except (DecodeError, ValueError) as exc:
        raise EnvelopeError(f"entry is not a coordinator.v1.Command: {exc}") from None
    if envelope.version != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported command envelope version {envelope.version}", "version")
    kind = envelope.WhichOneof("body")
    if kind is None:
        raise EnvelopeError("command envelope has no body", "body")
    try:
        return _DECODERS[kind](getattr(envelope, kind)), envelope.issued_at_ns
    except InvalidCommand as exc:
        raise EnvelopeError(exc.message, exc.field) from None


# ------------------------------------------------------------------------- encoders

def _limits_out(limits: RiskLimits) -> types_pb2.RiskLimits:
    return types_pb2.RiskLimits(
        order_quantity_max="" if limits.order_quantity_max is None else format_decimal(limits.order_quantity_max),
        position_max="" if limits.position_max is None else format_decimal(limits.position_max),
        open_orders_max=limits.open_orders_max or 0)


C = command_pb2.Command
_ENCODERS: dict[type, Callable[[Any], Any]] = {
    c.Campaign: lambda m: C.Campaign(engine_id=m.engine_id, ttl_ms=m.ttl_ms, request_id=m.request_id),
    c.KeepAlive: lambda m: C.KeepAlive(engine_id=m.engine_id, epoch=m.epoch),
    c.Expire: lambda m: C.Expire(epoch=m.epoch, lease_seq=m.lease_seq),
    c.Resign: lambda m: C.Resign(engine_id=m.engine_id, epoch=m.epoch, successor_engine_id=m.successor_engine_id),
    c.RequestHandoff: lambda m: C.RequestHandoff(to_engine_id=m.to_engine_id),
    c.SubmitOrder: lambda m: C.SubmitOrder(
        engine_id=m.engine_id, epoch=m.epoch, client_order_id=m.client_order_id, account=m.account,
        instrument=m.instrument, side=types_pb2.Side.ValueType(m.side), quantity=format_decimal(m.quantity),
        price=format_decimal(m.price)),
    c.UpdateOrder: lambda m: C.UpdateOrder(
        engine_id=m.engine_id, epoch=m.epoch, client_order_id=m.client_order_id,
        status=types_pb2.OrderStatus.ValueType(m.status), venue_order_id=m.venue_order_id, reason=m.reason),
    c.CancelOrder: lambda m: C.CancelOrder(engine_id=m.engine_id, epoch=m.epoch, client_order_id=m.client_order_id),
    c.ReportFill: lambda m: C.ReportFill(
        engine_id=m.engine_id, epoch=m.epoch, fill_id=m.fill_id, client_order_id=m.client_order_id,
        quantity=format_decimal(m.quantity), price=format_decimal(m.price)),
    c.SetRiskLimits: lambda m: C.SetRiskLimits(account=m.account, instrument=m.instrument,
                                               limits=_limits_out(m.limits)),
    c.Halt: lambda m: C.Halt(reason=m.reason),
    c.Resume: lambda m: C.Resume(),
    c.Barrier: lambda m: C.Barrier(),
}
_FIELD = {
    c.Campaign: "campaign", c.KeepAlive: "keep_alive", c.Expire: "expire", c.Resign: "resign",
    c.RequestHandoff: "request_handoff", c.SubmitOrder: "submit_order", c.UpdateOrder: "update_order",
    c.CancelOrder: "cancel_order", c.ReportFill: "report_fill", c.SetRiskLimits: "set_risk_limits",
    c.Halt: "halt", c.Resume: "resume", c.Barrier: "barrier",
}


# ------------------------------------------------------------------------- decoders

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


def limits_from_wire(limits: types_pb2.RiskLimits) -> RiskLimits:
    """Wire limits to core limits: "" and 0 mean no limit."""

    def optional(field: str, text: str) -> Decimal | None:
        return None if text == "" else parse_decimal(field, text)

    return RiskLimits(
        order_quantity_max=optional("limits.order_quantity_max", limits.order_quantity_max),
        position_max=optional("limits.position_max", limits.position_max),
        open_orders_max=limits.open_orders_max or None)


_DECODERS: dict[str, Callable[[Any], c.Command]] = {
    "campaign": lambda m: c.Campaign(m.engine_id, m.ttl_ms, m.request_id),
    "keep_alive": lambda m: c.KeepAlive(m.engine_id, m.epoch),
    "expire": lambda m: c.Expire(m.epoch, m.lease_seq),
    "resign": lambda m: c.Resign(m.engine_id, m.epoch, m.successor_engine_id),
    "request_handoff": lambda m: c.RequestHandoff(m.to_engine_id),
    "submit_order": lambda m: c.SubmitOrder(
        m.engine_id, m.epoch, m.client_order_id, m.account, m.instrument, side_from_wire(m.side),
        parse_decimal("quantity", m.quantity), parse_decimal("price", m.price)),
    "update_order": lambda m: c.UpdateOrder(
        m.engine_id, m.epoch, m.client_order_id, status_from_wire(m.status), m.venue_order_id, m.reason),
    "cancel_order": lambda m: c.CancelOrder(m.engine_id, m.epoch, m.client_order_id),
    "report_fill": lambda m: c.ReportFill(
        m.engine_id, m.epoch, m.fill_id, m.client_order_id, parse_decimal("quantity", m.quantity),
        parse_decimal("price", m.price)),
    "set_risk_limits": lambda m: c.SetRiskLimits(m.account, m.instrument, limits_from_wire(m.limits)),
    "halt": lambda m: c.Halt(m.reason),
    "resume": lambda m: c.Resume(),
    "barrier": lambda m: c.Barrier(),
}

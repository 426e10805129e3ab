"""Field validation shared by the state machine and the gRPC layer (one place per rule).

Every function raises InvalidCommand naming the offending field, and returns nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordinator.core import commands as c
from coordinator.core.model import OrderStatus, Side
from coordinator.core.numbers import check_bounds
from coordinator.core.refusals import InvalidCommand

ID_MAX_LENGTH = 128
TEXT_MAX_LENGTH = 256
TTL_MS_MIN = 100
TTL_MS_MAX = 600_000


def check_id(field: str, value: str) -> None:
    """Identifiers (engine ids, client order ids, accounts, ...): 1-128 printable ASCII, no
    spaces."""
    if not isinstance(value, str) or not value:
        raise InvalidCommand(f"{field} is required", field)
    if len(value) > ID_MAX_LENGTH:
        raise InvalidCommand(f"{field} is longer than {ID_MAX_LENGTH} characters", field)
    # among printable ASCII characters the space is the only whitespace (tabs and line ends
    # are not printable), so one substring test stands for a per-character isspace scan
    if not (value.isascii() and value.isprintable()) or " " in value:
        raise InvalidCommand(
            f"{field} must be printable ASCII without spaces, got {value!r}", field
        )


def check_optional_id(field: str, value: str) -> None:
    if value:
        check_id(field, value)


def check_scope(field: str, value: str) -> None:
    """A risk-limit scope: an identifier or '*'."""
    if value != "*":
        check_id(field, value)


def check_text(field: str, value: str) -> None:
    """Free text (halt reasons, reject reasons): up to 256 printable characters."""
    if not isinstance(value, str) or len(value) > TEXT_MAX_LENGTH:
        raise InvalidCommand(f"{field} must be at most {TEXT_MAX_LENGTH} characters", field)
    if not value.isprintable():
        raise InvalidCommand(f"{field} must be printable text", field)


def check_epoch(field: str, value: int) -> None:
    if not isinstance(value, int) or value < 1:
        raise InvalidCommand(f"{field} must be a positive epoch, got {value!r}", field)


def check_ttl_ms(value: int) -> None:
    if not isinstance(value, int) or not TTL_MS_MIN <= value <= TTL_MS_MAX:
        raise InvalidCommand(
            f"ttl_ms must be between {TTL_MS_MIN} and {TTL_MS_MAX}, got {value!r}", "ttl_ms"
        )


def validate_command(command: object) -> None:
    """Field-level validation of a command, without looking at any state.

    The state machine runs it first in `apply`; the gRPC layer runs it before proposing, so
    malformed input is refused with INVALID_ARGUMENT and never reaches the Raft log.
    """
    check = _CHECKS.get(type(command))
    if check is None:
        raise InvalidCommand(f"unknown command type {type(command).__name__}")
    check(command)


def _engine_write(cmd: Any) -> None:
    check_id("engine_id", cmd.engine_id)
    check_epoch("epoch", cmd.epoch)


def _campaign(cmd: c.Campaign) -> None:
    check_id("engine_id", cmd.engine_id)
    check_id("request_id", cmd.request_id)
    check_ttl_ms(cmd.ttl_ms)


def _resign(cmd: c.Resign) -> None:
    _engine_write(cmd)
    check_optional_id("successor_engine_id", cmd.successor_engine_id)
    if cmd.successor_engine_id == cmd.engine_id:
        raise InvalidCommand("successor_engine_id must name another engine", "successor_engine_id")


def _submit(cmd: c.SubmitOrder) -> None:
    _engine_write(cmd)
    for name in ("client_order_id", "account", "instrument"):
        check_id(name, getattr(cmd, name))
    if not isinstance(cmd.side, Side):
        raise InvalidCommand(f"side must be BUY or SELL, got {cmd.side!r}", "side")
    check_bounds("quantity", cmd.quantity)
    check_bounds("price", cmd.price)


def _update(cmd: c.UpdateOrder) -> None:
    _engine_write(cmd)
    check_id("client_order_id", cmd.client_order_id)
    if cmd.status not in (OrderStatus.OPEN, OrderStatus.REJECTED, OrderStatus.CANCELED):
        raise InvalidCommand("status must be OPEN, REJECTED or CANCELED", "status")
    check_optional_id("venue_order_id", cmd.venue_order_id)
    check_text("reason", cmd.reason)


def _cancel(cmd: c.CancelOrder) -> None:
    _engine_write(cmd)
    check_id("client_order_id", cmd.client_order_id)


def _fill(cmd: c.ReportFill) -> None:
    _engine_write(cmd)
    check_id("fill_id", cmd.fill_id)
    check_id("client_order_id", cmd.client_order_id)
    check_bounds("quantity", cmd.quantity)
    check_bounds("price", cmd.price)


def _limits(cmd: c.SetRiskLimits) -> None:
    check_scope("account", cmd.account or "*")
    check_scope("instrument", cmd.instrument or "*")
    for name in ("order_quantity_max", "position_max"):
        value = getattr(cmd.limits, name)
        if value is not None:
            check_bounds(name, value)
    open_max = cmd.limits.open_orders_max
    if open_max is not None and not (isinstance(open_max, int) and open_max > 0):
        raise InvalidCommand("open_orders_max must be a positive integer", "open_orders_max")


def _halt(cmd: c.Halt) -> None:
    check_text("reason", cmd.reason)
    if not cmd.reason.strip():
        raise InvalidCommand("a halt needs a reason", "reason")


def _nothing(cmd: object) -> None:
    pass


_CHECKS: dict[type, Callable[[Any], None]] = {
    c.Campaign: _campaign,
    c.KeepAlive: _engine_write,
    c.Expire: _nothing,
    c.Resign: _resign,
    c.RequestHandoff: lambda cmd: check_id("to_engine_id", cmd.to_engine_id),
    c.SubmitOrder: _submit,
    c.UpdateOrder: _update,
    c.CancelOrder: _cancel,
    c.ReportFill: _fill,
    c.SetRiskLimits: _limits,
    c.Halt: _halt,
    c.Resume: _nothing,
    c.Barrier: _nothing,
}

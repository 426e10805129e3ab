"""The plain dicts (JSON-ready rows) of orders, positions and audit entries: what `coordinator
orders/positions --json` prints, what `coordinator audit export` writes, one line each, and what
the chaos runner hands its checker as a node's final state.

One shape for each, so that an operator's JSON, an audit file and a chaos run's evidence can be
compared field for field. Quantities and prices are decimal text (`format_decimal`), never
floats. Nothing here decides anything or talks to a node.
"""

from __future__ import annotations

import json
from typing import Any

from coordinator.core.model import Fill, Order, Position
from coordinator.core.numbers import format_decimal
from coordinator.v1 import admin_pb2


def order_row(o: Order) -> dict[str, Any]:
    """Every field of one order; `average_fill_price` is None until its first fill."""
    return {
        "client_order_id": o.client_order_id,
        "account": o.account,
        "instrument": o.instrument,
        "side": o.side.name,
        "quantity": format_decimal(o.quantity),
        "price": format_decimal(o.price),
        "status": o.status.name,
        "filled_quantity": format_decimal(o.filled_quantity),
        "average_fill_price": None
        if o.average_fill_price is None
        else format_decimal(o.average_fill_price),
        "venue_order_id": o.venue_order_id,
        "cancel_requested": o.cancel_requested,
        "epoch": o.epoch,
        "engine_id": o.engine_id,
        "created_at_ns": o.created_at_ns,
        "updated_at_ns": o.updated_at_ns,
        "reject_reason": o.reject_reason or None,
    }


def fill_row(f: Fill) -> dict[str, Any]:
    """One fill of an order, as the venue reported it through the holder."""
    return {
        "fill_id": f.fill_id,
        "client_order_id": f.client_order_id,
        "quantity": format_decimal(f.quantity),
        "price": format_decimal(f.price),
        "epoch": f.epoch,
        "engine_id": f.engine_id,
        "filled_at_ns": f.filled_at_ns,
    }


def position_row(p: Position) -> dict[str, Any]:
    """The net position of one (account, instrument)."""
    return {
        "account": p.account,
        "instrument": p.instrument,
        "quantity": format_decimal(p.quantity),
        "average_price": format_decimal(p.average_price),
        "realized_pnl": format_decimal(p.realized_pnl),
    }


def audit_row(e: admin_pb2.AuditEntry) -> dict[str, Any]:
    """One stored log entry. `engine_id`, `epoch` and `outcome` are None where the entry has none
    (a Raft no-op, a membership change, a command that is not an engine's); `fields` are the
    command's own fields, {} for none. The key order is the audit file's column order."""
    return {
        "index": e.index,
        "term": e.term,
        "issued_at_ns": e.issued_at_ns,
        "command": e.command,
        "engine_id": e.engine_id or None,
        "epoch": e.epoch or None,
        "outcome": e.outcome or None,
        "fields": json.loads(e.fields_json) if e.fields_json else {},
    }

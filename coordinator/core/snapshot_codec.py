"""The canonical snapshot codec: the state's records to and from bytes for `snapshot()` and
`restore()`.

Canonical JSON: sorted keys, no whitespace, ASCII only, decimals as canonical strings, records
as fixed-order arrays. Equal states therefore give equal bytes, and the digest of the bytes is
the digest of the state.
"""

from __future__ import annotations

import json
from typing import Any

from coordinator.core.model import (
    Fill,
    Lease,
    Order,
    OrderStatus,
    Position,
    Release,
    Reservation,
    RiskLimits,
    ScopedRiskLimits,
    Side,
)
from coordinator.core.numbers import decimal_from_snapshot as dec
from coordinator.core.numbers import format_decimal as text


class SnapshotError(ValueError):
    """Snapshot bytes that cannot be restored (corrupt, truncated or of an unknown format)."""


def dump(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def dump_row(row: list[Any]) -> str:
    """One record's canonical JSON text (what `dump` writes for it inside an array)."""
    return json.dumps(row, separators=(",", ":"), ensure_ascii=True)


def load(data: bytes) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SnapshotError(f"state snapshot is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise SnapshotError("state snapshot is not a JSON object")
    return document


def lease_out(lease: Lease | None) -> list[Any] | None:
    if lease is None:
        return None
    return [
        lease.engine_id,
        lease.epoch,
        lease.ttl_ms,
        lease.granted_at_ns,
        lease.renewed_at_ns,
        lease.lease_seq,
    ]


def lease_in(row: list[Any] | None) -> Lease | None:
    if row is None:
        return None
    engine_id, epoch, ttl_ms, granted, renewed, seq = row
    return Lease(str(engine_id), int(epoch), int(ttl_ms), int(granted), int(renewed), int(seq))


def reservation_out(reservation: Reservation | None) -> list[Any] | None:
    return None if reservation is None else [reservation.engine_id, reservation.until_ns]


def reservation_in(row: list[Any] | None) -> Reservation | None:
    return None if row is None else Reservation(str(row[0]), int(row[1]))


def release_out(release: Release | None) -> list[Any] | None:
    if release is None:
        return None
    return [release.epoch, release.engine_id, release.cause, release.released_at_ns]


def release_in(row: list[Any] | None) -> Release | None:
    if row is None:
        return None
    epoch, engine_id, cause, at = row
    return Release(int(epoch), str(engine_id), str(cause), int(at))


def order_out(o: Order) -> list[Any]:
    return [
        o.client_order_id,
        o.account,
        o.instrument,
        o.side.name,
        text(o.quantity),
        text(o.price),
        o.status.name,
        text(o.filled_quantity),
        None if o.average_fill_price is None else text(o.average_fill_price),
        o.venue_order_id,
        o.cancel_requested,
        o.epoch,
        o.engine_id,
        o.created_at_ns,
        o.updated_at_ns,
        o.reject_reason,
    ]


def order_in(row: list[Any]) -> Order:
    (
        cid,
        account,
        instrument,
        side,
        quantity,
        price,
        status,
        filled,
        average,
        venue_id,
        cancel_requested,
        epoch,
        engine_id,
        created,
        updated,
        reject_reason,
    ) = row
    return Order(
        str(cid),
        str(account),
        str(instrument),
        Side[side],
        dec(quantity),
        dec(price),
        OrderStatus[status],
        dec(filled),
        None if average is None else dec(average),
        str(venue_id),
        bool(cancel_requested),
        int(epoch),
        str(engine_id),
        int(created),
        int(updated),
        str(reject_reason),
    )


def fill_out(f: Fill) -> list[Any]:
    return [
        f.fill_id,
        f.client_order_id,
        text(f.quantity),
        text(f.price),
        f.seq,
        f.epoch,
        f.engine_id,
        f.filled_at_ns,
    ]


def fill_in(row: list[Any]) -> Fill:
    fill_id, cid, quantity, price, seq, epoch, engine_id, at = row
    return Fill(
        str(fill_id),
        str(cid),
        dec(quantity),
        dec(price),
        int(seq),
        int(epoch),
        str(engine_id),
        int(at),
    )


def position_out(p: Position) -> list[Any]:
    return [p.account, p.instrument, text(p.quantity), text(p.average_price), text(p.realized_pnl)]


def position_in(row: list[Any]) -> Position:
    account, instrument, quantity, average, pnl = row
    return Position(str(account), str(instrument), dec(quantity), dec(average), dec(pnl))


def risk_out(s: ScopedRiskLimits) -> list[Any]:
    limits = s.limits
    return [
        s.account,
        s.instrument,
        None if limits.order_quantity_max is None else text(limits.order_quantity_max),
        None if limits.position_max is None else text(limits.position_max),
        limits.open_orders_max,
    ]


def risk_in(row: list[Any]) -> ScopedRiskLimits:
    account, instrument, quantity_max, position_max, open_max = row
    return ScopedRiskLimits(
        str(account),
        str(instrument),
        RiskLimits(
            None if quantity_max is None else dec(quantity_max),
            None if position_max is None else dec(position_max),
            None if open_max is None else int(open_max),
        ),
    )

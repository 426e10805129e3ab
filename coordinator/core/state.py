"""The coordinator's replicated state machine: leadership and epochs, orders, fills,
positions, risk limits and the halt switch.

This is the only place where trading rules live. Its contract (hashicorp/raft's FSM,
TigerBeetle's state machine):
- `apply(command, issued_at_ns)` is the only way state changes. It is deterministic: the same
  commands in the same order give byte-identical state on every node, whatever the node's
  clock, locale or decimal context. Time enters only as `issued_at_ns`, stamped by the Raft
  leader and clamped here so that it never goes backwards.
- Every handler validates everything first and then mutates in one short block. A refusal is
  raised before the first mutation and returned as a `Refused` result: a refused command
  leaves the state byte-identical, and `apply` never raises for bad input. An exception other
  than a refusal is a programmer error (a broken invariant): the caller must stop the node.
- Idempotency by natural keys: an order by client_order_id, a fill by fill_id, a campaign by
  (engine_id, request_id). An identical retry returns the stored result with duplicate=True;
  a retry of a key with different fields is refused (IDEMPOTENCY_CONFLICT).
- `snapshot()` is canonical (sorted, canonical decimals), `restore()` discards everything
  and rebuilds, `digest()` is the sha256 of the snapshot.

It must never do I/O, read a clock, use randomness or threads, or import anything outside the
standard library (tests/unit/test_core_purity.py enforces the imports).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from coordinator.core import snapshot_codec
from coordinator.core.commands import (
    Barrier,
    Campaign,
    CancelOrder,
    Command,
    Expire,
    Halt,
    KeepAlive,
    ReportFill,
    RequestHandoff,
    Resign,
    Resume,
    SetRiskLimits,
    SubmitOrder,
    UpdateOrder,
)
from coordinator.core.model import (
    ANY,
    Fill,
    Leadership,
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
from coordinator.core.numbers import CONTEXT, ZERO, canonical, format_decimal
from coordinator.core.positions import apply_fill, average_fill_price
from coordinator.core.refusals import Halted as HaltedRefusal
from coordinator.core.refusals import (
    IdempotencyConflict,
    IllegalTransition,
    InvalidCommand,
    NotHolder,
    Overfill,
    Reason,
    Refusal,
    StaleEpoch,
    UnknownOrder,
)
from coordinator.core.results import (
    Ack,
    CampaignResult,
    FillResult,
    LeaseResult,
    OrderResult,
    Refused,
    Result,
)
from coordinator.core.risk import Exposure, check_order, resolve_limits
from coordinator.core.validation import validate_command

SNAPSHOT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    """What a granted campaign returned, kept for its (engine_id, request_id) retries."""

    ttl_ms: int
    epoch: int


@dataclass(frozen=True, slots=True)
class Standby:
    """An engine that campaigned while the role was taken: live until its own TTL has passed
    since that campaign (a session campaigns again every TTL/4 while it waits)."""

    seen_at_ns: int
    ttl_ms: int

    def live(self, now_ns: int) -> bool:
        return now_ns - self.seen_at_ns <= self.ttl_ms * 1_000_000


class CoordinatorState:
    """The whole replicated state of one coordinator group. Not thread-safe: the caller
    serializes `apply` with reads (coordinator.replication does, with one lock)."""

    def __init__(self) -> None:
        self._clock_ns = 0
        self._epoch = 0
        self._holder: Lease | None = None
        self._handoff_to = ""
        self._reservation: Reservation | None = None
        self._last_release: Release | None = None
        self._campaigns: dict[tuple[str, str], CampaignRecord] = {}
        self._standbys: dict[str, Standby] = {}  # engine_id -> its last refused campaign
        self._orders: dict[str, Order] = {}
        self._fills: dict[str, Fill] = {}
        self._positions: dict[tuple[str, str], Position] = {}
        self._risk: dict[tuple[str, str], RiskLimits] = {}
        self._halted = False
        self._halt_reason = ""
        # Canonical JSON of each order, fill and position as last written, so that a snapshot
        # joins strings instead of re-encoding every record (O(changes) encoding, not O(state)).
        # Filled lazily: a record missing here is encoded at the next snapshot.
        self._rows: dict[str, dict[Any, str]] = {"orders": {}, "fills": {}, "positions": {}}
        # Derived from the orders, rebuilt by restore(); never snapshotted.
        self._open: dict[str, None] = {}
        self._exposure: dict[tuple[str, str], Exposure] = {}
        self._open_count: dict[str, int] = {}
        self._fills_of_order: dict[str, list[Fill]] = {}

    # ------------------------------------------------------------------ apply

    def apply(self, command: Command, issued_at_ns: int) -> Result:
        """Applies one command at its log position. Returns its result or `Refused`.

        Raises only on a programmer error (an assert or a bug), never for bad input.
        """
        handler = _HANDLERS.get(type(command))
        if handler is None:
            return Refused(InvalidCommand.reason, f"unknown command type {type(command).__name__}")
        now_ns = max(int(issued_at_ns), self._clock_ns)
        try:
            validate_command(command)
            return handler(self, command, now_ns)
        except Refusal as refusal:
            return Refused(Reason(refusal.reason), refusal.message, refusal.field)

    # ------------------------------------------------------------ leadership

    def _campaign(self, cmd: Campaign, now_ns: int) -> Result:
        key = (cmd.engine_id, cmd.request_id)
        record = self._campaigns.get(key)
        if record is not None:
            if record.ttl_ms != cmd.ttl_ms:
                raise IdempotencyConflict(
                    f"campaign {cmd.request_id!r} of {cmd.engine_id!r} was made with ttl_ms "
                    f"{record.ttl_ms}, not {cmd.ttl_ms}",
                    "ttl_ms",
                )
            still_held = self._holder is not None and self._holder.epoch == record.epoch
            return self._campaign_result(
                True, record.epoch, record.ttl_ms, duplicate=True, with_book=still_held
            )
        if self._holder is not None or self._reserved_for_another(cmd.engine_id, now_ns):
            holder = self._holder
            self._seen_standby(cmd.engine_id, cmd.ttl_ms, now_ns)
            return CampaignResult(
                granted=False,
                epoch=self._epoch,
                holder_id=holder.engine_id if holder else "",
                ttl_ms=holder.ttl_ms if holder else cmd.ttl_ms,
                duplicate=False,
            )
        # Mutation: a new epoch (Invariant 4: one holder per epoch, epochs strictly increase).
        epoch = self._epoch + 1
        self._epoch = epoch
        self._holder = Lease(cmd.engine_id, epoch, cmd.ttl_ms, now_ns, now_ns, 0)
        self._campaigns[key] = CampaignRecord(cmd.ttl_ms, epoch)
        self._standbys.pop(cmd.engine_id, None)
        self._reservation = None
        self._handoff_to = ""
        self._clock_ns = now_ns
        return self._campaign_result(True, epoch, cmd.ttl_ms, duplicate=False, with_book=True)

    def _campaign_result(
        self, granted: bool, epoch: int, ttl_ms: int, *, duplicate: bool, with_book: bool
    ) -> CampaignResult:
        holder = self._holder
        return CampaignResult(
            granted=granted,
            epoch=epoch,
            holder_id=holder.engine_id if holder else "",
            ttl_ms=ttl_ms,
            duplicate=duplicate,
            open_orders=tuple(self.orders(open_only=True)) if with_book else (),
            positions=tuple(self.positions()) if with_book else (),
        )

    def _seen_standby(self, engine_id: str, ttl_ms: int, now_ns: int) -> None:
        """Records a waiting engine, forgetting those no longer live (the map stays small)."""
        self._standbys = {e: s for e, s in self._standbys.items() if s.live(now_ns)}
        self._standbys[engine_id] = Standby(now_ns, ttl_ms)
        self._clock_ns = now_ns

    def _reserved_for_another(self, engine_id: str, now_ns: int) -> bool:
        reservation = self._reservation
        return (
            reservation is not None
            and now_ns < reservation.until_ns
            and reservation.engine_id != engine_id
        )

    def _keep_alive(self, cmd: KeepAlive, now_ns: int) -> Result:
        holder = self._fence(cmd.engine_id, cmd.epoch)
        renewed = replace(holder, renewed_at_ns=now_ns, lease_seq=holder.lease_seq + 1)
        self._holder = renewed
        self._clock_ns = now_ns
        return LeaseResult(renewed.epoch, renewed.ttl_ms, renewed.lease_seq, self._handoff_to)

    def _expire(self, cmd: Expire, now_ns: int) -> Result:
        holder = self._holder
        if holder is None or holder.epoch != cmd.epoch or holder.lease_seq != cmd.lease_seq:
            raise StaleEpoch(
                f"lease (epoch {cmd.epoch}, renewal {cmd.lease_seq}) was renewed or released "
                "before it expired",
                "epoch",
            )
        self._release(holder, "expired", now_ns)
        return Ack(epoch=holder.epoch)

    def _resign(self, cmd: Resign, now_ns: int) -> Result:
        last = self._last_release
        if (
            self._holder is None
            and last is not None
            and last.cause == "resigned"
            and (last.epoch, last.engine_id) == (cmd.epoch, cmd.engine_id)
        ):
            return Ack(duplicate=True, epoch=cmd.epoch)
        holder = self._fence(cmd.engine_id, cmd.epoch)
        self._release(holder, "resigned", now_ns)
        if cmd.successor_engine_id:
            self._reservation = Reservation(
                cmd.successor_engine_id, now_ns + holder.ttl_ms * 1_000_000
            )
        return Ack(epoch=holder.epoch)

    def _release(self, holder: Lease, cause: str, now_ns: int) -> None:
        self._holder = None
        self._last_release = Release(holder.epoch, holder.engine_id, cause, now_ns)
        self._handoff_to = ""
        self._reservation = None
        self._clock_ns = now_ns

    def _request_handoff(self, cmd: RequestHandoff, now_ns: int) -> Result:
        holder = self._holder
        if holder is None:
            raise NotHolder(
                "no engine holds the execution role, so there is nothing to hand off",
                "to_engine_id",
            )
        if holder.engine_id == cmd.to_engine_id:
            raise InvalidCommand(
                f"{cmd.to_engine_id!r} already holds the execution role", "to_engine_id"
            )
        if self._handoff_to == cmd.to_engine_id:
            return Ack(duplicate=True, epoch=holder.epoch)
        standby = self._standbys.get(cmd.to_engine_id)
        if standby is None or not standby.live(now_ns):
            raise InvalidCommand(
                f"{cmd.to_engine_id!r} is not a live standby (no campaign from it within its "
                f"TTL), so nobody could take over; {self._live_standbys_text(now_ns)}",
                "to_engine_id",
            )
        self._handoff_to = cmd.to_engine_id
        self._clock_ns = now_ns
        return Ack(epoch=holder.epoch)

    def _live_standbys_text(self, now_ns: int) -> str:
        live = sorted(e for e, s in self._standbys.items() if s.live(now_ns))
        return f"live standbys: {', '.join(live)}" if live else "no live standby is campaigning"

    def _fence(self, engine_id: str, epoch: int) -> Lease:
        """The fencing check (Invariant 3), the one place it is written. Returns the holder's
        lease when (engine_id, epoch) is the current grant; refuses otherwise."""
        holder = self._holder
        if epoch != self._epoch or holder is None:
            state = f"held by {holder.engine_id!r}" if holder else "not held"
            raise StaleEpoch(
                f"epoch {epoch} is not current (current epoch {self._epoch}, {state})", "epoch"
            )
        if holder.engine_id != engine_id:
            raise NotHolder(
                f"epoch {epoch} is held by {holder.engine_id!r}, not {engine_id!r}", "engine_id"
            )
        return holder

    # ----------------------------------------------------------------- orders

    def _submit_order(self, cmd: SubmitOrder, now_ns: int) -> Result:
        self._fence(cmd.engine_id, cmd.epoch)
        existing = self._orders.get(cmd.client_order_id)
        if existing is not None:
            same = (
                existing.account,
                existing.instrument,
                existing.side,
                existing.quantity,
                existing.price,
            ) == (cmd.account, cmd.instrument, cmd.side, cmd.quantity, cmd.price)
            if not same:
                raise IdempotencyConflict(
                    f"client_order_id {cmd.client_order_id!r} already names a different order",
                    "client_order_id",
                )
            return OrderResult(existing, duplicate=True)
        if self._halted:
            raise HaltedRefusal(f"trading is halted: {self._halt_reason}", "")
        key = (cmd.account, cmd.instrument)
        position = self._positions.get(key)
        check_order(
            resolve_limits(self._risk, cmd.account, cmd.instrument),
            side=cmd.side,
            quantity=cmd.quantity,
            position=position.quantity if position else ZERO,
            exposure=self._exposure.get(key) or Exposure(ZERO, ZERO),
            open_orders=self._open_count.get(cmd.account, 0),
        )
        order = Order(
            client_order_id=cmd.client_order_id,
            account=cmd.account,
            instrument=cmd.instrument,
            side=cmd.side,
            quantity=canonical(cmd.quantity),
            price=canonical(cmd.price),
            status=OrderStatus.PENDING_NEW,
            filled_quantity=ZERO,
            average_fill_price=None,
            venue_order_id="",
            cancel_requested=False,
            epoch=cmd.epoch,
            engine_id=cmd.engine_id,
            created_at_ns=now_ns,
            updated_at_ns=now_ns,
            reject_reason="",
        )
        self._put_order(order)
        self._clock_ns = now_ns
        return OrderResult(order, duplicate=False)

    def _update_order(self, cmd: UpdateOrder, now_ns: int) -> Result:
        self._fence(cmd.engine_id, cmd.epoch)
        order = self._order(cmd.client_order_id)
        if (
            cmd.venue_order_id
            and order.venue_order_id
            and cmd.venue_order_id != order.venue_order_id
        ):
            raise IdempotencyConflict(
                f"order {order.client_order_id!r} already has venue_order_id "
                f"{order.venue_order_id!r}",
                "venue_order_id",
            )
        venue_order_id = order.venue_order_id or cmd.venue_order_id
        target = _venue_transition(order.status, cmd.status)
        if target == order.status and venue_order_id == order.venue_order_id:
            return OrderResult(order, duplicate=True)
        updated = replace(
            order,
            status=target,
            venue_order_id=venue_order_id,
            updated_at_ns=now_ns,
            reject_reason=cmd.reason if target is OrderStatus.REJECTED else order.reject_reason,
        )
        self._put_order(updated)
        self._clock_ns = now_ns
        return OrderResult(updated, duplicate=False)

    def _cancel_order(self, cmd: CancelOrder, now_ns: int) -> Result:
        self._fence(cmd.engine_id, cmd.epoch)
        order = self._order(cmd.client_order_id)
        if order.status is OrderStatus.CANCELED or order.cancel_requested:
            return OrderResult(order, duplicate=True)
        if order.status.is_terminal:
            raise IllegalTransition(
                f"order {order.client_order_id!r} is {order.status.name}; it cannot be canceled",
                "client_order_id",
            )
        updated = replace(order, cancel_requested=True, updated_at_ns=now_ns)
        self._put_order(updated)
        self._clock_ns = now_ns
        return OrderResult(updated, duplicate=False)

    def _report_fill(self, cmd: ReportFill, now_ns: int) -> Result:
        self._fence(cmd.engine_id, cmd.epoch)
        seen = self._fills.get(cmd.fill_id)
        if seen is not None:
            if (seen.client_order_id, seen.quantity, seen.price) != (
                cmd.client_order_id,
                cmd.quantity,
                cmd.price,
            ):
                raise IdempotencyConflict(
                    f"fill_id {cmd.fill_id!r} already names a different fill", "fill_id"
                )
            order = self._orders[seen.client_order_id]
            return FillResult(
                order, self._positions[(order.account, order.instrument)], duplicate=True
            )
        order = self._order(cmd.client_order_id)
        if order.status.is_terminal:
            raise IllegalTransition(
                f"order {order.client_order_id!r} is {order.status.name}; it cannot be filled",
                "client_order_id",
            )
        if cmd.quantity > order.remaining_quantity:
            raise Overfill(
                f"fill of {format_decimal(cmd.quantity)} exceeds the remaining "
                f"{format_decimal(order.remaining_quantity)} of order {order.client_order_id!r}",
                "quantity",
            )
        # Mutation.
        filled = canonical(CONTEXT.add(order.filled_quantity, cmd.quantity))
        updated = replace(
            order,
            filled_quantity=filled,
            updated_at_ns=now_ns,
            average_fill_price=average_fill_price(
                order.filled_quantity, order.average_fill_price, cmd.quantity, cmd.price
            ),
            status=OrderStatus.FILLED if filled == order.quantity else OrderStatus.PARTIALLY_FILLED,
        )
        fill = Fill(
            cmd.fill_id,
            cmd.client_order_id,
            canonical(cmd.quantity),
            canonical(cmd.price),
            len(self._fills) + 1,
            cmd.epoch,
            cmd.engine_id,
            now_ns,
        )
        key = (order.account, order.instrument)
        position = apply_fill(
            self._positions.get(key) or Position.flat(*key), order.side, fill.quantity, fill.price
        )
        self._add_fill(fill)
        self._positions[key] = position
        self._rows["positions"].pop(key, None)
        self._put_order(updated)
        self._clock_ns = now_ns
        return FillResult(updated, position, duplicate=False)

    def _add_fill(self, fill: Fill) -> None:
        self._fills[fill.fill_id] = fill
        self._fills_of_order.setdefault(fill.client_order_id, []).append(fill)

    def _order(self, client_order_id: str) -> Order:
        order = self._orders.get(client_order_id)
        if order is None:
            raise UnknownOrder(
                f"no order with client_order_id {client_order_id!r}", "client_order_id"
            )
        return order

    def _put_order(self, order: Order) -> None:
        """Stores a new version of an order and keeps the derived indexes in step."""
        previous = self._orders.get(order.client_order_id)
        if previous is not None and previous.is_open:
            self._count_open(previous, -1)
        self._orders[order.client_order_id] = order
        self._rows["orders"].pop(order.client_order_id, None)
        if order.is_open:
            self._count_open(order, +1)

    def _count_open(self, order: Order, sign: int) -> None:
        key = (order.account, order.instrument)
        exposure = self._exposure.setdefault(key, Exposure(ZERO, ZERO))
        delta = order.remaining_quantity if sign > 0 else -order.remaining_quantity
        if order.side is Side.BUY:
            exposure.buy_open = canonical(CONTEXT.add(exposure.buy_open, delta))
        else:
            exposure.sell_open = canonical(CONTEXT.add(exposure.sell_open, delta))
        self._open_count[order.account] = self._open_count.get(order.account, 0) + sign
        if sign > 0:
            self._open[order.client_order_id] = None
        else:
            del self._open[order.client_order_id]
        assert exposure.buy_open >= 0 and exposure.sell_open >= 0, "open exposure went negative"
        assert self._open_count[order.account] >= 0, "open order count went negative"

    # -------------------------------------------------------- risk and halt

    def _set_risk_limits(self, cmd: SetRiskLimits, now_ns: int) -> Result:
        account, instrument = cmd.account or ANY, cmd.instrument or ANY
        limits = cmd.limits
        limits = RiskLimits(
            None if limits.order_quantity_max is None else canonical(limits.order_quantity_max),
            None if limits.position_max is None else canonical(limits.position_max),
            limits.open_orders_max,
        )
        key = (account, instrument)
        if self._risk.get(key, RiskLimits()) == limits:
            return Ack(duplicate=True)
        if limits == RiskLimits():
            del self._risk[key]
        else:
            self._risk[key] = limits
        self._clock_ns = now_ns
        return Ack()

    def _halt(self, cmd: Halt, now_ns: int) -> Result:
        if self._halted:
            return Ack(duplicate=True)
        self._halted, self._halt_reason = True, cmd.reason
        self._clock_ns = now_ns
        return Ack()

    def _resume(self, cmd: Resume, now_ns: int) -> Result:
        if not self._halted:
            return Ack(duplicate=True)
        self._halted, self._halt_reason = False, ""
        self._clock_ns = now_ns
        return Ack()

    def _barrier(self, cmd: Barrier, now_ns: int) -> Result:
        return Ack()

    # ------------------------------------------------------------------ reads

    def order(self, client_order_id: str) -> Order | None:
        return self._orders.get(client_order_id)

    def orders(
        self, *, open_only: bool = False, account: str = "", instrument: str = ""
    ) -> list[Order]:
        """Orders in submission order (created_at_ns, then client_order_id), filtered."""
        source = (
            (self._orders[cid] for cid in self._open) if open_only else iter(self._orders.values())
        )
        selected = [
            o
            for o in source
            if (not account or o.account == account)
            and (not instrument or o.instrument == instrument)
        ]
        selected.sort(key=lambda o: (o.created_at_ns, o.client_order_id))
        return selected

    def open_order_count(self) -> int:
        return len(self._open)

    def positions(self, *, account: str = "", instrument: str = "") -> list[Position]:
        return [
            p
            for key, p in sorted(self._positions.items())
            if (not account or key[0] == account) and (not instrument or key[1] == instrument)
        ]

    def fills(self) -> list[Fill]:
        """Every fill, in log order (the dict's insertion order: fills are only ever added)."""
        return list(self._fills.values())

    def fills_of(self, client_order_id: str) -> list[Fill]:
        """One order's fills, in log order."""
        return list(self._fills_of_order.get(client_order_id, ()))

    def leadership(self) -> Leadership:
        return Leadership(
            self._epoch, self._holder, self._handoff_to, self._reservation, self._last_release
        )

    def risk_limits(self) -> list[ScopedRiskLimits]:
        return [ScopedRiskLimits(a, i, limits) for (a, i), limits in sorted(self._risk.items())]

    @property
    def halted(self) -> bool:
        return self._halted

    @property
    def halt_reason(self) -> str:
        return self._halt_reason

    @property
    def clock_ns(self) -> int:
        return self._clock_ns

    # ---------------------------------------------------------- snapshotting

    def snapshot(self) -> bytes:
        """Canonical bytes of the whole state: equal states give equal bytes. The document is
        {"fills": [...], "meta": {...}, "orders": [...], "positions": [...]} (keys in order)."""
        meta = snapshot_codec.dump(
            {
                "format": SNAPSHOT_FORMAT,
                "clock_ns": self._clock_ns,
                "epoch": self._epoch,
                "holder": snapshot_codec.lease_out(self._holder),
                "handoff_to": self._handoff_to,
                "reservation": snapshot_codec.reservation_out(self._reservation),
                "last_release": snapshot_codec.release_out(self._last_release),
                "campaigns": sorted(
                    [e, r, c.ttl_ms, c.epoch] for (e, r), c in self._campaigns.items()
                ),
                "standbys": sorted([e, s.seen_at_ns, s.ttl_ms] for e, s in self._standbys.items()),
                "risk": [snapshot_codec.risk_out(s) for s in self.risk_limits()],
                "halted": self._halted,
                "halt_reason": self._halt_reason,
            }
        )
        fills = self._encoded(
            "fills", self._fills.values(), lambda f: f.fill_id, snapshot_codec.fill_out
        )
        orders = self._encoded(
            "orders",
            (self._orders[cid] for cid in sorted(self._orders)),
            lambda o: o.client_order_id,
            snapshot_codec.order_out,
        )
        positions = self._encoded(
            "positions",
            (self._positions[k] for k in sorted(self._positions)),
            lambda p: (p.account, p.instrument),
            snapshot_codec.position_out,
        )
        return b"".join(
            (
                b'{"fills":[',
                fills,
                b'],"meta":',
                meta,
                b',"orders":[',
                orders,
                b'],"positions":[',
                positions,
                b"]}",
            )
        )

    def _encoded(
        self,
        kind: str,
        records: Iterable[Any],
        key: Callable[[Any], Any],
        row: Callable[[Any], list[Any]],
    ) -> bytes:
        cache = self._rows[kind]
        parts = []
        for record in records:
            k = key(record)
            text = cache.get(k)
            if text is None:
                text = cache[k] = snapshot_codec.dump_row(row(record))
            parts.append(text)
        return ",".join(parts).encode()

    @classmethod
    def restore(cls, data: bytes) -> CoordinatorState:
        """A new state from `snapshot()` bytes. Raises snapshot_codec.SnapshotError if they are
        not."""
        document: dict[str, Any] = snapshot_codec.load(data)
        doc = document.get("meta")
        if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
            raise snapshot_codec.SnapshotError("unsupported or missing state snapshot format")
        state = cls()
        try:
            state._clock_ns = int(doc["clock_ns"])
            state._epoch = int(doc["epoch"])
            state._holder = snapshot_codec.lease_in(doc["holder"])
            state._handoff_to = str(doc["handoff_to"])
            state._reservation = snapshot_codec.reservation_in(doc["reservation"])
            state._last_release = snapshot_codec.release_in(doc["last_release"])
            state._campaigns = {
                (e, r): CampaignRecord(int(t), int(ep)) for e, r, t, ep in doc["campaigns"]
            }
            # absent from the snapshots of earlier versions: nobody waiting is known yet
            state._standbys = {
                str(e): Standby(int(at), int(ttl)) for e, at, ttl in doc.get("standbys", [])
            }
            for row in document["orders"]:
                state._put_order(snapshot_codec.order_in(row))
            for fill in map(snapshot_codec.fill_in, document["fills"]):
                state._add_fill(fill)
            positions = map(snapshot_codec.position_in, document["positions"])
            state._positions = {(p.account, p.instrument): p for p in positions}
            state._risk = {
                (s.account, s.instrument): s.limits
                for s in map(snapshot_codec.risk_in, doc["risk"])
            }
            state._halted = bool(doc["halted"])
            state._halt_reason = str(doc["halt_reason"])
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise snapshot_codec.SnapshotError(f"malformed state snapshot: {exc!r}") from exc
        return state

    def digest(self) -> str:
        """sha256 (hex) of the canonical snapshot: equal on every node at the same index."""
        return hashlib.sha256(self.snapshot()).hexdigest()


def _venue_transition(current: OrderStatus, reported: OrderStatus) -> OrderStatus:
    """The order status after the venue reports `reported`; refuses illegal transitions."""
    if reported is OrderStatus.OPEN:
        if current is OrderStatus.PENDING_NEW:
            return OrderStatus.OPEN
        if current in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED):
            return current  # a late or repeated acknowledgement: fills already moved it on
    elif reported is OrderStatus.REJECTED:
        if current in (OrderStatus.PENDING_NEW, OrderStatus.REJECTED):
            return OrderStatus.REJECTED
    elif reported is OrderStatus.CANCELED:
        if current is OrderStatus.CANCELED or not current.is_terminal:
            return OrderStatus.CANCELED
    raise IllegalTransition(
        f"an order that is {current.name} cannot become {reported.name}", "status"
    )


_HANDLERS: dict[type, Callable[[CoordinatorState, Any, int], Result]] = {
    Campaign: CoordinatorState._campaign,
    KeepAlive: CoordinatorState._keep_alive,
    Expire: CoordinatorState._expire,
    Resign: CoordinatorState._resign,
    RequestHandoff: CoordinatorState._request_handoff,
    SubmitOrder: CoordinatorState._submit_order,
    UpdateOrder: CoordinatorState._update_order,
    CancelOrder: CoordinatorState._cancel_order,
    ReportFill: CoordinatorState._report_fill,
    SetRiskLimits: CoordinatorState._set_risk_limits,
    Halt: CoordinatorState._halt,
    Resume: CoordinatorState._resume,
    Barrier: CoordinatorState._barrier,
}

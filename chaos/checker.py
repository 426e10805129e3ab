"""The chaos checker: a pure function of the history and the final state of every node.

It re-derives, independently and simply, what the coordinator must have decided from one
node's stored log (the commands in log order, with the outcomes the node claims), and checks
every claim and every acknowledgement against that model and against every node:

1. no_duplicate_orders: at most one order per client_order_id: no two acknowledgements of a new
   order with the same key, no second acceptance in the log.
2. no_lost_acknowledged_writes: every ok submit, fill, cancel and ack is in every node's state.
3. fencing: every engine write the log accepted carries the epoch current at its position and
   comes from that epoch's holder; no refusal as stale of a write that was current.
4. one_holder_per_epoch: grants in log order have epochs 1, 2, 3, ... one engine each, only while
   the role was free, and every engine's "elected" event matches a grant.
5. convergence: every node has the same applied index and state digest.
   applied_prefix (invariant 5 made strict): what each node applied, in order, is a prefix of one
   committed sequence. The committed sequence is the complete log (`complete_log`); each node's
   apply trace (`A index term` rows, `S index term` for an installed snapshot, `R pid` when it
   started; see coordinator/replication/instruments.py) must match it entry for entry, with no
   gap and nothing past its end, and no node's audit trail may list, at an index it has applied,
   an entry of another term (an entry that never committed). A final digest alone cannot see a
   node that applied a phantom entry and was later overwritten by a snapshot.
6. positions_equal_fills: every node's positions equal a fold of the accepted fills.
7. risk: no order accepted while halted or beyond a configured limit.
plus liveness: after the faults healed, the cluster elected, granted and committed again, and
every node converged within `converge_within_s` of the heal; and every bound a fault measured
while it was active (`bounds` in its nemesis record: a leader stepping down, writes committing
after a membership change, a deposed leader repaired) held.

Nothing here looks at a clock except to order history events; nothing talks to a node.
"""

from __future__ import annotations

import decimal
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chaos.history import OK, Event, completions

CONTEXT = decimal.Context(prec=34, rounding=decimal.ROUND_HALF_EVEN)
ENGINE_WRITES = {"SubmitOrder", "UpdateOrder", "CancelOrder", "ReportFill", "KeepAlive", "Resign"}
TERMINAL = {"FILLED", "CANCELED", "REJECTED"}
INVARIANTS = (
    "no_duplicate_orders",
    "no_lost_acknowledged_writes",
    "fencing",
    "one_holder_per_epoch",
    "convergence",
    "applied_prefix",
    "positions_equal_fills",
    "risk",
    "liveness",
)
LIVENESS_STEPS = ("leader_elected", "engine_granted", "writes_committed", "converged")
# ("R", pid, 0), ("S", index, term), ("A", index, term); ("?", line, 0) unreadable
TraceRow = tuple[str, int, int]


@dataclass
class NodeFinal:
    """What the runner read from one node after the faults healed."""

    node_id: str
    applied_index: int
    digest: str
    orders: list[dict[str, Any]]  # every order (coordinator/wire/rows.py: order_row)
    positions: list[dict[str, Any]]
    # audit entries (rows.py: audit_row): index, command, outcome, epoch, ...
    log: list[dict[str, Any]]


@dataclass
class Verdict:
    name: str
    ok: bool
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        self.ok = False
        if len(self.problems) < 20:
            self.problems.append(problem)


@dataclass
class ModelOrder:
    account: str
    instrument: str
    side: str
    quantity: Decimal
    status: str = "PENDING_NEW"
    filled: Decimal = Decimal(0)
    cancel_requested: bool = False


class LogModel:
    """What the coordinator must have decided, replayed from (command, claimed outcome) pairs."""

    def __init__(self, verdicts: dict[str, Verdict]) -> None:
        self.v = verdicts
        self.epoch = 0
        self.holder: str | None = None
        self.reserved_for: str | None = None
        self.reserved_until_ns = 0  # a hand-off reservation lasts the resigned holder's TTL
        self.ttl_ms = 0  # of the current grant
        self.now_ns = 0  # the leader stamp of the entry being fed
        self.grants: dict[int, str] = {}
        self.halted = False
        self.orders: dict[str, ModelOrder] = {}
        self.fills: dict[str, tuple[str, Decimal, Decimal]] = {}
        self.positions: dict[tuple[str, str], tuple[Decimal, Decimal, Decimal]] = {}
        self.limits: dict[tuple[str, str], dict[str, Any]] = {}

    def feed(self, entry: dict[str, Any]) -> None:
        command, outcome, f = (
            entry["command"],
            entry.get("outcome") or "",
            entry.get("fields") or {},
        )
        self.now_ns = int(entry.get("issued_at_ns") or 0)
        subject = f.get("client_order_id") or f.get("fill_id") or ""
        at = f"log index {entry['index']} ({command} {subject})"
        if command in ENGINE_WRITES:
            self._check_fence(entry, outcome, at)
        handler = getattr(self, f"_{command}", None)
        if handler is not None and outcome in ("ACCEPTED", "GRANTED", "DUPLICATE"):
            handler(f, outcome, at)

    def _check_fence(self, entry: dict[str, Any], outcome: str, at: str) -> None:
        fencing = self.v["fencing"]
        current = (
            entry["epoch"] == self.epoch
            and self.holder == entry["engine_id"]
            and self.holder is not None
        )
        if outcome in ("ACCEPTED", "DUPLICATE"):
            fencing.checked += 1
            if not current:
                fencing.fail(
                    f"{at}: accepted from {entry['engine_id']} at epoch {entry['epoch']} while the "
                    f"current epoch was {self.epoch} held by {self.holder}"
                )
        elif outcome in ("STALE_EPOCH", "NOT_HOLDER") and current and entry["command"] != "Resign":
            fencing.fail(
                f"{at}: refused as {outcome} although epoch {entry['epoch']} of "
                f"{entry['engine_id']} was current"
            )

    # ------------------------------------------------------------------ leadership

    def _Campaign(self, f: dict[str, Any], outcome: str, at: str) -> None:
        if outcome != "GRANTED":
            return
        grants = self.v["one_holder_per_epoch"]
        grants.checked += 1
        engine = f["engine_id"]
        if self.holder is not None:
            grants.fail(f"{at}: granted to {engine} while {self.holder} held epoch {self.epoch}")
        if self.reserved_for not in (None, engine) and self.now_ns < self.reserved_until_ns:
            grants.fail(f"{at}: granted to {engine} while reserved for {self.reserved_for}")
        self.epoch += 1
        self.holder, self.reserved_for = engine, None
        self.ttl_ms = int(f.get("ttl_ms") or 0)
        self.grants[self.epoch] = engine

    def _Expire(self, f: dict[str, Any], outcome: str, at: str) -> None:
        if f["epoch"] != self.epoch or self.holder is None:
            self.v["one_holder_per_epoch"].fail(
                f"{at}: expired epoch {f['epoch']} but epoch {self.epoch} is "
                f"{'held by ' + self.holder if self.holder else 'free'}"
            )
        self.holder = None

    def _Resign(self, f: dict[str, Any], outcome: str, at: str) -> None:
        if outcome == "ACCEPTED":
            self.holder = None
            self.reserved_for = f.get("successor_engine_id") or None
            self.reserved_until_ns = self.now_ns + self.ttl_ms * 1_000_000

    # ---------------------------------------------------------------------- orders

    def _SubmitOrder(self, f: dict[str, Any], outcome: str, at: str) -> None:
        cid = f["client_order_id"]
        if outcome == "DUPLICATE":
            if cid not in self.orders:
                self.v["no_duplicate_orders"].fail(
                    f"{at}: answered as a duplicate of an order never accepted"
                )
            return
        self.v["no_duplicate_orders"].checked += 1
        if cid in self.orders:
            self.v["no_duplicate_orders"].fail(f"{at}: a second order with client_order_id {cid}")
            return
        order = ModelOrder(f["account"], f["instrument"], f["side"], Decimal(f["quantity"]))
        self._check_risk(cid, order, at)
        self.orders[cid] = order

    def _check_risk(self, cid: str, order: ModelOrder, at: str) -> None:
        risk = self.v["risk"]
        risk.checked += 1
        if self.halted:
            risk.fail(f"{at}: order {cid} accepted while halted")
        limits = self._limits(order.account, order.instrument)
        if limits.get("order_quantity_max") and order.quantity > Decimal(
            limits["order_quantity_max"]
        ):
            risk.fail(
                f"{at}: quantity {order.quantity} above order_quantity_max "
                f"{limits['order_quantity_max']}"
            )
        open_in_account = sum(
            1
            for o in self.orders.values()
            if o.account == order.account and o.status not in TERMINAL
        )
        if limits.get("open_orders_max") and open_in_account + 1 > limits["open_orders_max"]:
            risk.fail(
                f"{at}: {open_in_account + 1} open orders in {order.account}, above "
                f"{limits['open_orders_max']}"
            )
        if limits.get("position_max"):
            key = (order.account, order.instrument)
            position = self.positions.get(key, (Decimal(0), Decimal(0), Decimal(0)))[0]
            same = [
                o
                for o in self.orders.values()
                if (o.account, o.instrument) == key
                and o.status not in TERMINAL
                and o.side == order.side
            ]
            open_quantity = sum((o.quantity - o.filled for o in same), Decimal(0))
            worst = (
                position + open_quantity + order.quantity
                if order.side == "BUY"
                else -(position - open_quantity - order.quantity)
            )
            if worst > Decimal(limits["position_max"]):
                risk.fail(
                    f"{at}: worst-case position {worst} above position_max {limits['position_max']}"
                )

    def _limits(self, account: str, instrument: str) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key in ((account, instrument), (account, "*"), ("*", instrument), ("*", "*")):
            for name, value in self.limits.get(key, {}).items():
                if value is not None and name not in merged:
                    merged[name] = value
        return merged

    def _UpdateOrder(self, f: dict[str, Any], outcome: str, at: str) -> None:
        order = self.orders.get(f["client_order_id"])
        if order is None:
            return
        if f["status"] in ("CANCELED", "REJECTED"):
            order.status = f["status"]
        elif order.status == "PENDING_NEW":
            order.status = "OPEN"

    def _CancelOrder(self, f: dict[str, Any], outcome: str, at: str) -> None:
        order = self.orders.get(f["client_order_id"])
        if order is not None:
            order.cancel_requested = True

    def _ReportFill(self, f: dict[str, Any], outcome: str, at: str) -> None:
        if outcome == "DUPLICATE":
            return
        order = self.orders.get(f["client_order_id"])
        quantity, price = Decimal(f["quantity"]), Decimal(f["price"])
        if (
            order is None
            or f["fill_id"] in self.fills
            or order.status in TERMINAL
            or quantity > order.quantity - order.filled
        ):
            self.v["positions_equal_fills"].fail(
                f"{at}: fill {f['fill_id']} accepted on a missing, terminal or overfilled order, "
                "or twice"
            )
            return
        self.fills[f["fill_id"]] = (f["client_order_id"], quantity, price)
        order.filled += quantity
        order.status = "FILLED" if order.filled == order.quantity else "PARTIALLY_FILLED"
        key = (order.account, order.instrument)
        self.positions[key] = fold(
            self.positions.get(key, (Decimal(0), Decimal(0), Decimal(0))),
            order.side,
            quantity,
            price,
        )

    def _SetRiskLimits(self, f: dict[str, Any], outcome: str, at: str) -> None:
        limits = f["limits"]
        scope = (f["account"] or "*", f["instrument"] or "*")
        self.limits[scope] = {k: v for k, v in limits.items() if v is not None}

    def _Halt(self, f: dict[str, Any], outcome: str, at: str) -> None:
        self.halted = True

    def _Resume(self, f: dict[str, Any], outcome: str, at: str) -> None:
        self.halted = False


def fold(
    position: tuple[Decimal, Decimal, Decimal], side: str, quantity: Decimal, price: Decimal
) -> tuple[Decimal, Decimal, Decimal]:
    """(quantity, average price, realized PnL) after a fill, written independently of the core."""
    held, average, pnl = position
    signed = quantity if side == "BUY" else -quantity
    new = held + signed
    if held == 0 or (held > 0) == (signed > 0):
        return new, CONTEXT.divide(abs(held) * average + quantity * price, abs(new)), pnl
    closed = min(abs(held), quantity)
    pnl += closed * (price - average) * (1 if held > 0 else -1)
    if new == 0:
        return new, Decimal(0), pnl
    return new, (average if (new > 0) == (held > 0) else price), pnl


def complete_log(finals: dict[str, NodeFinal]) -> tuple[str, list[dict[str, Any]]] | None:
    """The committed log to judge against: the longest node log that starts at the beginning with
    no gap and every outcome known, unless one pieced together from every node (`stitched_log`)
    is longer (a node's complete log can be a prefix that ends before the others' do)."""
    candidates = [
        (len(final.log), node_id) for node_id, final in finals.items() if _is_complete(final.log)
    ]
    stitched = stitched_log(finals)
    if candidates:
        length, node_id = max(candidates)
        if stitched is None or len(stitched[1]) <= length:
            return node_id, finals[node_id].log
    return stitched


def stitched_log(finals: dict[str, NodeFinal]) -> tuple[str, list[dict[str, Any]]] | None:
    """The committed log pieced together from every node's audit trail, when no node holds all
    of it: a node repaired through a snapshot has no entries before the snapshot, and if every
    node was repaired once, each has a gap somewhere else. Every entry up to a node's applied
    index was committed; each node records the outcome of what it applied, so for every index
    some node that applied it can say what happened. Where nodes list different terms at one
    index, the later term wins (it is the one a later leader committed); applied_prefix then
    reports the node that listed the other."""
    by_index: dict[int, dict[str, Any]] = {}
    for _node_id, final in sorted(finals.items()):
        for entry in final.log:
            if entry["index"] > final.applied_index:
                continue  # not applied there: not known to be committed
            known = by_index.get(entry["index"])
            if (
                known is None
                or entry["term"] > known["term"]
                or (
                    entry["term"] == known["term"]
                    and not known.get("outcome")
                    and entry.get("outcome")
                )
            ):
                by_index[entry["index"]] = entry
    log = [by_index[index] for index in sorted(by_index)]
    if not _is_complete(log):
        return None
    return "stitched from " + ", ".join(sorted(finals)), log


def _is_complete(log: list[dict[str, Any]]) -> bool:
    indexes = [e["index"] for e in log]
    return (
        bool(log)
        and indexes[0] <= 2
        and indexes == list(range(indexes[0], indexes[0] + len(indexes)))
        and all(e.get("outcome") or e["command"] in ("raft_noop", "membership") for e in log)
    )


TORN_THEN_RESTARTED = re.compile(r"^[AS]( \d*)?( \d*)?(R \d+)$")  # "A 12" cut short, then "R 4242"


def parse_trace(text: str) -> list[TraceRow]:
    """The rows of one apply trace. A killed node may leave its last line torn (the file is a
    prefix of what happened): a torn last line is dropped, and a torn line that the restarted
    node's `R` row was appended to counts as that `R` row. Any other line that does not parse
    becomes a ("?", line number, 0) row, which the check reports."""
    lines = text.split("\n")
    rows: list[TraceRow] = []
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1] is "" or a torn last line
        torn = TORN_THEN_RESTARTED.match(line)
        parts = torn.group(3).split() if torn else line.split()
        if len(parts) == 2 and parts[0] == "R" and parts[1].isdigit():
            rows.append(("R", int(parts[1]), 0))
        elif (
            len(parts) == 3 and parts[0] in ("A", "S") and parts[1].isdigit() and parts[2].isdigit()
        ):
            rows.append((parts[0], int(parts[1]), int(parts[2])))
        else:
            rows.append(("?", number, 0))
    return rows


def check(
    history: list[Event],
    finals: dict[str, NodeFinal],
    liveness: dict[str, Any],
    traces: dict[str, list[TraceRow]] | None = None,
) -> dict[str, Verdict]:
    """Every invariant's verdict for one run. `traces` maps node ids to their apply traces (a
    node whose file is missing maps to no rows); None means the run was not traced."""
    v = {name: Verdict(name, True) for name in INVARIANTS}
    source = complete_log(finals)
    model = LogModel(v)
    if source is None:
        for name in (
            "fencing",
            "one_holder_per_epoch",
            "risk",
            "positions_equal_fills",
            "applied_prefix",
        ):
            v[name].fail("no node has a complete log to check against")
    else:
        for entry in source[1]:
            model.feed(entry)
        _check_applied_prefix(source, finals, traces, v["applied_prefix"])
    _check_history_against_model(history, model, v)
    _check_finals(history, finals, model, v, source is not None)
    _check_liveness(liveness, v)
    _check_fault_bounds(history, v["liveness"])
    return v


# ------------------------------------------------------------------ applied_prefix


def _check_applied_prefix(
    source: tuple[str, list[dict[str, Any]]],
    finals: dict[str, NodeFinal],
    traces: dict[str, list[TraceRow]] | None,
    check: Verdict,
) -> None:
    origin, log = source
    committed = {e["index"]: e["term"] for e in log}
    for node_id, final in finals.items():
        # at an index it has applied, a node lists only what committed there
        for entry in final.log:
            term = committed.get(entry["index"])
            if entry["index"] <= final.applied_index and term is not None and term != entry["term"]:
                check.fail(
                    f"{node_id}: its audit trail lists index {entry['index']} at term "
                    f"{entry['term']} ({entry['command']} {entry.get('outcome') or ''}); the "
                    f"committed log ({origin}) has term {term} there: an entry that never committed"
                )
    if traces is None:
        return
    if not any(traces.values()):
        check.fail(
            f"no node wrote an apply trace (looked for {sorted(traces)}): the trace hook is "
            "broken, so what the nodes applied cannot be checked"
        )
    last = max(committed, default=0)
    for node_id, rows in sorted(traces.items()):
        _check_trace(node_id, rows, committed, last, origin, check)


def _check_trace(
    node_id: str,
    rows: list[TraceRow],
    committed: dict[int, int],
    last: int,
    origin: str,
    check: Verdict,
) -> None:
    """One node's trace against the committed log. After `R` (a start), the next `A` may be any
    entry (the node replays from its snapshot); after `S`, it is the entry after the snapshot;
    otherwise `A` rows are consecutive."""
    expected: int | None = None
    for kind, number, term in rows:
        if kind == "?":
            check.fail(f"{node_id}: line {number} of its apply trace is unreadable")
        elif kind == "R":
            expected = None
        elif number > last:
            check.fail(
                f"{node_id}: {'applied' if kind == 'A' else 'installed a snapshot up to'} index "
                f"{number} (term {term}); the committed log ({origin}) ends at {last}"
            )
            expected = number + 1
        else:
            if committed.get(number, term) != term:
                check.fail(
                    f"{node_id}: {'applied' if kind == 'A' else 'installed a snapshot up to'} "
                    f"index {number} at term {term}; the committed log ({origin}) has term "
                    f"{committed[number]} there"
                )
            if kind == "A":
                check.checked += 1
                if expected is not None and number != expected:
                    check.fail(
                        f"{node_id}: applied index {number} right after {expected - 1}, with no "
                        "snapshot in between"
                    )
            expected = number + 1


def _check_history_against_model(
    history: list[Event], model: LogModel, v: dict[str, Verdict]
) -> None:
    new_acks = Counter(
        e.key for e in history if e.type == OK and e.op == "submit" and not e.value.get("duplicate")
    )
    v["no_duplicate_orders"].checked += len(new_acks)
    for cid, count in new_acks.items():
        if count > 1:
            v["no_duplicate_orders"].fail(f"{cid} was acknowledged as a new order {count} times")
    elected: dict[int, set[str]] = defaultdict(set)
    for event in history:
        if event.type == OK and event.op == "elected":
            elected[event.epoch].add(event.process)
    for epoch, engines in elected.items():
        v["one_holder_per_epoch"].checked += 1
        if len(engines) > 1:
            v["one_holder_per_epoch"].fail(f"epoch {epoch} elected {sorted(engines)}")
        granted = model.grants.get(epoch)
        if granted is not None and engines != {granted}:
            v["one_holder_per_epoch"].fail(
                f"{sorted(engines)} elected at epoch {epoch}, granted to {granted}"
            )
    for event in history:
        if event.type == OK and event.op in ("submit", "update", "cancel", "fill"):
            holder = model.grants.get(event.epoch)
            if model.grants and holder != event.process:
                v["fencing"].fail(
                    f"{event.process} got ok for {event.op} {event.key} at epoch {event.epoch}, "
                    f"granted to {holder}"
                )


def _check_finals(
    history: list[Event],
    finals: dict[str, NodeFinal],
    model: LogModel,
    v: dict[str, Verdict],
    have_model: bool,
) -> None:
    lost = v["no_lost_acknowledged_writes"]
    # An acknowledgement carries the result; the fields are on its invoke.
    oks = [
        Event(
            done.time,
            done.process,
            OK,
            invoke.op,
            invoke.op_id,
            invoke.epoch,
            invoke.key,
            {**invoke.value, **done.value},
        )
        for invoke, done in completions(history)
        if done is not None
        and done.type == OK
        and invoke.op in ("submit", "update", "cancel", "fill")
    ]
    fills_per_order: dict[str, Decimal] = defaultdict(Decimal)
    for event in oks:
        if event.op == "fill" and not event.value.get("duplicate"):
            fills_per_order[event.value["client_order_id"]] += Decimal(event.value["quantity"])
    for node_id, final in finals.items():
        orders = {o["client_order_id"]: o for o in final.orders}
        for event in oks:
            lost.checked += 1
            cid = event.key if event.op != "fill" else event.value["client_order_id"]
            order = orders.get(cid)
            if order is None:
                lost.fail(f"{node_id}: acknowledged {event.op} of {cid} but the order is missing")
            elif event.op == "cancel" and not (
                order["cancel_requested"] or order["status"] == "CANCELED"
            ):
                lost.fail(f"{node_id}: acknowledged cancel of {cid} is not recorded")
            elif event.op == "update" and order["status"] == "PENDING_NEW":
                lost.fail(
                    f"{node_id}: acknowledged {event.value.get('status')} of {cid} is not recorded"
                )
        for cid, filled in fills_per_order.items():
            if cid in orders and Decimal(orders[cid]["filled_quantity"]) < filled:
                lost.fail(
                    f"{node_id}: {cid} shows {orders[cid]['filled_quantity']} filled, acknowledged "
                    f"fills add up to {filled}"
                )
        if have_model:
            _compare_with_model(node_id, orders, final.positions, model, v)
    views = {(f.applied_index, f.digest) for f in finals.values()}
    v["convergence"].checked = len(finals)
    if len(views) != 1:
        v["convergence"].fail(
            "nodes differ: "
            + ", ".join(f"{f.node_id}={f.applied_index}/{f.digest[:12]}" for f in finals.values())
        )


def _compare_with_model(
    node_id: str,
    orders: dict[str, dict[str, Any]],
    positions: list[dict[str, Any]],
    model: LogModel,
    v: dict[str, Verdict],
) -> None:
    if set(orders) != set(model.orders):
        missing, extra = set(model.orders) - set(orders), set(orders) - set(model.orders)
        v["no_lost_acknowledged_writes"].fail(
            f"{node_id}: orders differ from the log: missing {sorted(missing)[:5]}, extra "
            f"{sorted(extra)[:5]}"
        )
    for cid, order in model.orders.items():
        final = orders.get(cid)
        if final is not None and (final["status"], Decimal(final["filled_quantity"])) != (
            order.status,
            order.filled,
        ):
            v["no_lost_acknowledged_writes"].fail(
                f"{node_id}: {cid} is {final['status']} {final['filled_quantity']} filled; the log "
                f"says {order.status} {order.filled}"
            )
    seen = {(p["account"], p["instrument"]): p for p in positions}
    check = v["positions_equal_fills"]
    for key, (quantity, average, pnl) in model.positions.items():
        check.checked += 1
        final = seen.get(key)
        if (
            final is None
            or Decimal(final["quantity"]) != quantity
            or abs(Decimal(final["average_price"]) - average) > Decimal("1e-20")
            or abs(Decimal(final["realized_pnl"]) - pnl) > Decimal("1e-20")
        ):
            check.fail(
                f"{node_id}: position {key} is {json.dumps(final)}; fills give quantity "
                f"{quantity}, average {average}, pnl {pnl}"
            )


def _check_liveness(liveness: dict[str, Any], v: dict[str, Verdict]) -> None:
    check = v["liveness"]
    check.checked = 1
    for name in LIVENESS_STEPS:
        if not liveness.get(name):
            bound = (
                liveness.get("converge_within_s")
                if name == "converged"
                else liveness.get("within_s")
            )
            check.fail(f"after healing: {name.replace('_', ' ')} did not happen within {bound} s")
    converged_s, bound_s = liveness.get("converged_s"), liveness.get("converge_within_s")
    if (
        liveness.get("converged")
        and converged_s is not None
        and bound_s is not None
        and converged_s > bound_s
    ):
        check.fail(
            f"after healing: the nodes converged {converged_s} s after the heal, beyond the bound "
            f"of {bound_s} s"
        )


def _check_fault_bounds(history: list[Event], check: Verdict) -> None:
    """Every bound a fault measured while active (see chaos/faults.py: `bounds` in its record)."""
    for event in history:
        if event.process != "nemesis" or event.op != "fault" or event.type != OK:
            continue
        for name, bound in sorted((event.value.get("bounds") or {}).items()):
            check.checked += 1
            took_s, within_s = bound.get("took_s"), bound.get("within_s")
            if took_s is None or within_s is None or took_s > within_s:
                what = "never happened" if took_s is None else f"took {took_s} s"
                details = json.dumps(
                    {k: v for k, v in event.value.items() if k != "bounds"}, default=str
                )
                check.fail(
                    f"during {event.key} at {event.time:.3f}: {name} {what}; the bound is "
                    f"{within_s} s ({details[:400]})"
                )

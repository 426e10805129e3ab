"""The demo's summary and checks, as a pure function of what the run recorded (`DemoFacts`).

Every figure the summary prints is computed here once, from the same facts as the check that
judges it, so a line cannot say something the checks contradict. It never reads a process, a
socket or a clock: run.py gathers the facts, this module only words them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple


class Check(NamedTuple):
    name: str
    held: bool
    detail: str  # shown when it did not hold


@dataclass(frozen=True, slots=True)
class Grant:
    """A grant of the execution role as Observe reported it, and the phase of the run then."""

    epoch: int
    holder: str
    phase: str


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the new holder reported of the in-doubt orders it inherited (its `elected` event)."""

    open_orders: int
    marked_open: int
    sent_from_book: int
    reconcile_failed: int

    @classmethod
    def from_event(cls, elected: Mapping[str, Any]) -> Reconciliation:
        return cls(
            elected["open_orders"],
            elected["marked_open"],
            elected["sent_from_book"],
            elected.get("reconcile_failed", 0),
        )


@dataclass(frozen=True, slots=True)
class Takeover:
    """`seconds`: from the fault until the standby held the new grant; `reconcile_ms`: then
    until it had reconciled the inherited book with the venue and resumed trading."""

    scene: str
    from_engine: str
    to_engine: str
    epoch: int
    seconds: float
    reconcile_ms: float
    reconciliation: Reconciliation


@dataclass(frozen=True, slots=True)
class Arrival:
    """One order message the venue received."""

    t: float
    cid: str
    engine: str
    epoch: int


@dataclass(frozen=True, slots=True)
class DemoFacts:
    orders_target: int
    grants: tuple[Grant, ...]
    takeovers: tuple[Takeover, ...]
    arrivals: tuple[Arrival, ...]
    book: frozenset[str]  # client_order_ids in the coordinator's book
    digests: frozenset[str]  # every node's state digest
    engine_sends: int  # orders the engines reported sending
    raft_failover_s: float | None = None
    writes_resumed_s: float | None = None
    zombie_write: Mapping[str, Any] | None = None
    zombie_demoted: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    lines: tuple[str, ...]
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(check.held for check in self.checks)


def venue_line(orders_target: int, arrivals: tuple[Arrival, ...]) -> str:
    """The live view's venue line."""
    distinct = len({a.cid for a in arrivals})
    return f"venue   {distinct}/{orders_target} orders, {len(arrivals) - distinct} duplicates"


def duplicated(arrivals: tuple[Arrival, ...]) -> dict[str, int]:
    """client_order_id -> times received, for those the venue received more than once."""
    received = Counter(a.cid for a in arrivals)
    return {cid: n for cid, n in received.items() if n > 1}


def invariant_checks(facts: DemoFacts) -> list[Check]:
    """The checks every failover must pass."""
    duplicates = duplicated(facts.arrivals)
    missing = sorted({a.cid for a in facts.arrivals} - facts.book)
    epochs = [g.epoch for g in facts.grants]
    holders: dict[int, set[str]] = {}
    for grant in facts.grants:
        holders.setdefault(grant.epoch, set()).add(grant.holder)
    return [
        Check(
            "no duplicate order at the venue",
            not duplicates,
            f"{len(duplicates)} duplicated client_order_ids",
        ),
        Check(
            "every order the venue received is in the coordinator's book",
            not missing,
            f"missing: {missing[:5]}",
        ),
        Check(
            "epochs strictly increase, one holder each",
            epochs == sorted(set(epochs)) and all(len(h) == 1 for h in holders.values()),
            f"grants: {[(g.epoch, g.holder) for g in facts.grants]}",
        ),
        Check(
            "every node has the same state digest",
            len(facts.digests) == 1,
            f"{len(facts.digests)} digests",
        ),
    ]


def zombie_checks(facts: DemoFacts) -> list[Check]:
    zombie = {"write": facts.zombie_write, "demoted": facts.zombie_demoted}
    return [
        Check(
            "the paused engine's write was refused as STALE_EPOCH",
            (facts.zombie_write or {}).get("outcome") == "STALE_EPOCH",
            f"zombie: {zombie}",
        ),
        Check(
            "the paused engine reported itself demoted",
            bool(facts.zombie_demoted),
            f"zombie: {zombie}",
        ),
    ]


def takeover_note(takeover: Takeover) -> str:
    r = takeover.reconciliation
    return (
        f"{takeover.to_engine} took over with epoch {takeover.epoch} and {r.open_orders} open "
        f"orders, of which {r.marked_open} were in doubt (PENDING_NEW) and reconciled "
        f"with the venue ({r.sent_from_book} sent now because the venue had never "
        "received them"
        + (f"; {r.reconcile_failed} could not be reconciled" if r.reconcile_failed else "")
        + ")"
    )


def summarize(facts: DemoFacts) -> Summary:
    checks = (*invariant_checks(facts), *zombie_checks(facts))
    distinct = {a.cid for a in facts.arrivals}
    duplicates = duplicated(facts.arrivals)
    lines = [
        f"orders sent to the venue by the engines  {facts.engine_sends}",
        f"orders the venue received                {len(distinct)} distinct, "
        f"{len(facts.arrivals)} messages",
        f"duplicates at the venue                  {len(duplicates)}",
    ]
    unsent = len(facts.book - distinct)
    lines.append(
        f"orders in the coordinator's book         {len(facts.book)} ({unsent} recorded but never "
        "sent: an engine was\n                                           stopped between "
        "recording and sending; the next holder\n                                           "
        "reconciles them by client_order_id)"
        if unsent
        else f"orders in the coordinator's book         {len(facts.book)}"
    )
    lines.append(
        "epochs granted                           "
        + " -> ".join(f"{g.epoch}:{g.holder}" for g in facts.grants)
    )
    for t in facts.takeovers:
        lines.append(
            f"takeover after {t.scene:<15}          {t.from_engine} -> {t.to_engine} (epoch "
            f"{t.epoch}) granted after {t.seconds * 1000:.0f} ms, book reconciled in "
            f"{t.reconcile_ms:.0f} ms more"
        )
    if facts.raft_failover_s is not None and facts.writes_resumed_s is not None:
        lines.append(
            "Raft leader kill                         new leader in "
            f"{facts.raft_failover_s * 1000:.0f} ms, orders flowing again after "
            f"{facts.writes_resumed_s * 1000:.0f} ms"
        )
    if facts.zombie_write is not None:
        write = facts.zombie_write
        demoted = (facts.zombie_demoted or {}).get("reason", "")
        lines.append(
            f"zombie write (epoch {write['epoch']})                   {write['outcome']}; "
            f"demoted: {demoted}"
        )
    lines.extend(
        f"note: {takeover_note(t)}" for t in facts.takeovers if t.scene == "engine SIGKILL"
    )
    return Summary(tuple(lines), checks)

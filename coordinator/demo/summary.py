"""The demo's summary and checks, as a pure function of what the run recorded (`DemoFacts`).

Every figure the summary prints is computed here once, from the same facts as the check that
judges it, so a line cannot say something the checks contradict. It never reads a process, a
socket or a clock: run.py gathers the facts, this module only words them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

LABEL_WIDTH = 41  # the column the summary's values start in


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


class InDoubt(StrEnum):
    """What became of one in-doubt order (PENDING_NEW: recorded, maybe not sent) that a new
    holder inherited: exactly one of these, so the in-doubt count is their sum."""

    AT_VENUE = "at_venue"  # the venue had it; its venue state is now recorded
    SENT_NOW = "sent_now"  # the venue never had it; sent now, its venue state recorded
    # left PENDING_NEW for the next holder: the venue could not be asked, the order could not be
    # sent, its venue state could not be recorded (it may have reached the venue), or the grant
    # ended before it was sent
    NOT_RECONCILED = "not_reconciled"


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """What the new holder reported of the book it inherited (its `elected` event)."""

    open_orders: int
    at_venue: int
    sent_now: int
    not_reconciled: int

    @property
    def in_doubt(self) -> int:
        return self.at_venue + self.sent_now + self.not_reconciled

    @classmethod
    def from_event(cls, elected: Mapping[str, Any]) -> Reconciliation:
        in_doubt = elected["in_doubt"]
        return cls(
            elected["open_orders"],
            in_doubt[InDoubt.AT_VENUE],
            in_doubt[InDoubt.SENT_NOW],
            in_doubt[InDoubt.NOT_RECONCILED],
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
    """The live view's venue line. The run streams until the venue has `orders_target` orders
    and then stops the engines, so the count ends a little past the target: it is shown beside
    the target, never as a fraction of it."""
    distinct = len({a.cid for a in arrivals})
    return (
        f"venue   {distinct} orders received (target {orders_target}), "
        f"{len(duplicated(arrivals))} received more than once"
    )


def duplicated(arrivals: tuple[Arrival, ...]) -> dict[str, int]:
    """client_order_id -> times received, for those the venue received more than once."""
    received = Counter(a.cid for a in arrivals)
    return {cid: n for cid, n in received.items() if n > 1}


def duplicates_figure(duplicates: Mapping[str, int]) -> str:
    return f"{len(duplicates)} client_order_ids received more than once"


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
            f"{duplicates_figure(duplicates)}: "
            f"[{', '.join(f'{cid!r} x{n}' for cid, n in sorted(duplicates.items())[:5])}]",
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
    """What the new holder inherited and what became of each in-doubt order; the in-doubt
    figure is the sum of the outcomes printed after it."""
    r = takeover.reconciliation
    note = (
        f"{takeover.to_engine} took over with epoch {takeover.epoch} and {r.open_orders} open "
        f"orders, {r.in_doubt} of them in doubt (PENDING_NEW)"
    )
    if not r.in_doubt:
        return note
    return (
        f"{note}, reconciled with the venue by client_order_id: {r.at_venue} the venue already "
        f"had, {r.sent_now} sent now because it had never received them"
        + (
            f", {r.not_reconciled} not reconciled (left PENDING_NEW for the next holder)"
            if r.not_reconciled
            else ""
        )
    )


def venue_received(facts: DemoFacts) -> str:
    distinct = len({a.cid for a in facts.arrivals})
    past_target = distinct - facts.orders_target
    return f"{distinct} in {len(facts.arrivals)} messages" + (
        f" (the demo streams {facts.orders_target}, then stops the engines: {past_target} more "
        "were in flight)"
        if past_target > 0
        else ""
    )


def row(label: str, value: str) -> str:
    """One summary line: the label, then its value in the column every value starts in."""
    return f"{label:<{LABEL_WIDTH}}{value}"


def summarize(facts: DemoFacts) -> Summary:
    """The summary's lines and the checks, from the same facts: each figure is computed once
    (the venue's from its own records, the grants from Observe) and the lines only word it."""
    checks = (*invariant_checks(facts), *zombie_checks(facts))
    distinct = {a.cid for a in facts.arrivals}
    unsent = len(facts.book - distinct)
    lines = [
        row("orders the venue received", venue_received(facts)),
        row("duplicates at the venue", duplicates_figure(duplicated(facts.arrivals))),
        row(
            "orders in the coordinator's book",
            f"{len(facts.book)}"
            + (
                f" ({unsent} recorded but never sent: an engine stopped between recording and "
                "sending, or a new holder could not reconcile them)"
                if unsent
                else ""
            ),
        ),
        row(
            "epochs granted",
            " -> ".join(f"{g.epoch}:{g.holder} ({g.phase})" for g in facts.grants),
        ),
    ]
    for t in facts.takeovers:
        lines.append(
            row(
                f"takeover after {t.scene}",
                f"{t.from_engine} -> {t.to_engine} (epoch {t.epoch}) granted after "
                f"{t.seconds * 1000:.0f} ms, book reconciled in {t.reconcile_ms:.0f} ms more",
            )
        )
    if facts.raft_failover_s is not None and facts.writes_resumed_s is not None:
        lines.append(
            row(
                "Raft leader kill",
                f"new leader in {facts.raft_failover_s * 1000:.0f} ms, orders flowing again "
                f"after {facts.writes_resumed_s * 1000:.0f} ms",
            )
        )
    if facts.zombie_write is not None:
        write = facts.zombie_write
        demoted = (facts.zombie_demoted or {}).get("reason", "")
        lines.append(
            row(f"zombie write (epoch {write['epoch']})", f"{write['outcome']}; demoted: {demoted}")
        )
    lines.extend(f"note: {takeover_note(t)}" for t in facts.takeovers)
    return Summary(tuple(lines), checks)

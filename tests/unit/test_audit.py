"""The audit trail (server/audit.py): every stored entry, with what the state machine did with
it."""

from __future__ import annotations

from coordinator.replication.envelope import ENTRY_TYPE, encode
from coordinator.server.audit import audit_entries
from tests.unit.builders import campaign, keep_alive


def entry(command: object, index: int) -> tuple[bytes, int, int]:
    return (bytes([ENTRY_TYPE]) + encode(command, 1_000 + index), index, 2)  # type: ignore[arg-type]


def test_outcomes_are_recomputed_from_the_beginning_of_the_log() -> None:
    rows = list(
        audit_entries(
            iter(
                [entry(campaign(), 1), entry(keep_alive("e1", 1), 2), entry(keep_alive("e1", 7), 3)]
            )
        )
    )
    assert [(r.index, r.command, r.outcome) for r in rows] == [
        (1, "Campaign", "GRANTED"),
        (2, "KeepAlive", "ACCEPTED"),
        (3, "KeepAlive", "STALE_EPOCH"),
    ]


def test_after_a_snapshot_gap_the_stored_outcome_is_given_instead_of_nothing() -> None:
    """A node repaired through a snapshot has no entries before it; the outcomes it recorded when
    it applied the later entries still say what happened (the chaos checker needs them)."""
    stored = {40: "ACCEPTED", 41: "STALE_EPOCH"}
    rows = list(
        audit_entries(
            iter(
                [
                    entry(keep_alive("e1", 3), 40),
                    entry(keep_alive("e1", 2), 41),
                    entry(keep_alive("e1", 3), 42),
                ]
            ),
            lambda index: stored.get(index, ""),
        )
    )
    assert [(r.index, r.outcome) for r in rows] == [(40, "ACCEPTED"), (41, "STALE_EPOCH"), (42, "")]

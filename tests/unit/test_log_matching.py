"""The follower and leader guards against truncating acknowledged entries (log_matching.py).
Raft paper section 5.3, AppendEntries receiver rule 3: delete only on a conflict."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.replication.log_matching import (
    AppendPlan,
    RepairHint,
    guarded_next_index,
    plan_append,
)


@dataclass
class Log:
    """(index, term) pairs from `first`, as a follower holds them."""

    terms: list[int]
    first: int = 1

    @property
    def first_index(self) -> int:
        return self.first

    @property
    def last_index(self) -> int:
        return self.first + len(self.terms) - 1

    def term_at(self, index: int) -> int | None:
        position = index - self.first
        return self.terms[position] if 0 <= position < len(self.terms) else None


def entries(start: int, *terms: int) -> list[tuple[bytes, int, int]]:
    return [(b"cmd", start + i, term) for i, term in enumerate(terms)]


def test_a_resent_older_batch_does_not_truncate_the_acknowledged_tail() -> None:
    # Follower holds 1..10 in term 2 and acked them; a stale resend carries 4..6.
    plan = plan_append(
        Log([1, 1, 2, 2, 2, 2, 2, 2, 2, 2]), 3, 2, entries(4, 2, 2, 2), leader_term=2
    )
    assert plan == AppendPlan(10, 2, ())


def test_a_stale_heartbeat_does_not_truncate_a_same_term_tail() -> None:
    assert plan_append(Log([1, 2, 2, 2]), 2, 2, [], leader_term=2) == AppendPlan(4, 2, ())


def test_new_entries_are_appended_after_the_matching_prefix() -> None:
    plan = plan_append(Log([1, 1, 2]), 2, 1, entries(3, 2, 2, 2), leader_term=2)
    assert plan == AppendPlan(3, 2, entries(4, 2, 2))


def test_a_conflicting_entry_is_replaced_with_everything_after_it() -> None:
    # Follower has an uncommitted entry 3 from term 1; the term-2 leader has a different entry 3.
    plan = plan_append(Log([1, 1, 1, 1]), 2, 1, entries(3, 2, 2), leader_term=2)
    assert plan == AppendPlan(2, 1, entries(3, 2, 2))


def test_an_unverified_tail_from_an_older_term_may_be_dropped() -> None:
    plan = plan_append(Log([1, 1, 1, 1]), 2, 1, [], leader_term=3)
    assert plan == AppendPlan(2, 1, ())


def test_a_failed_consistency_check_is_left_to_pysyncobj_to_reset() -> None:
    assert plan_append(Log([1, 1]), 5, 1, [], leader_term=1) is None  # prev beyond our log
    assert plan_append(Log([1, 1, 2]), 3, 3, [], leader_term=3) is None  # term mismatch at prev
    assert plan_append(Log([2, 2], first=10), 5, 1, [], leader_term=2) is None  # compacted away


def test_a_success_acknowledgement_never_moves_next_index_backwards() -> None:
    assert guarded_next_index(120, 80, success=True, reset=False) == 120
    assert guarded_next_index(80, 120, success=True, reset=False) == 120


def test_a_reset_may_move_next_index_anywhere() -> None:
    assert guarded_next_index(120, 40, success=False, reset=True) == 40
    assert guarded_next_index(None, 40, success=True, reset=False) == 40


def test_a_reset_never_points_past_an_entry_already_found_conflicting_in_this_term() -> None:
    """One pipelined round to a follower whose entry 11 conflicts: the first message fails at 11,
    the later ones lie beyond its log (last 12). Every reset must say 11, or the leader's
    nextIndex ends at 13 and the next round fails the same way (issue 8, defect 2)."""
    hint = RepairHint()
    assert hint.rejected(term=5, prev_index=11, prev_present=True, hint=11) == 11
    assert hint.rejected(term=5, prev_index=400, prev_present=False, hint=13) == 11
    assert hint.rejected(term=5, prev_index=800, prev_present=False, hint=13) == 11
    assert hint.conflict == 11


def test_a_match_or_a_new_term_forgets_the_conflict() -> None:
    hint = RepairHint()
    hint.rejected(term=5, prev_index=11, prev_present=True, hint=11)
    hint.accepted()
    assert hint.rejected(term=5, prev_index=400, prev_present=False, hint=13) == 13
    hint.rejected(term=5, prev_index=11, prev_present=True, hint=11)
    assert hint.rejected(term=6, prev_index=400, prev_present=False, hint=13) == 13


def test_a_lower_conflict_wins_and_a_beyond_log_reset_without_one_is_passed_through() -> None:
    hint = RepairHint()
    assert hint.rejected(term=2, prev_index=50, prev_present=False, hint=21) == 21
    hint.rejected(term=2, prev_index=20, prev_present=True, hint=20)
    hint.rejected(term=2, prev_index=18, prev_present=True, hint=18)
    assert hint.rejected(term=2, prev_index=19, prev_present=True, hint=19) == 19
    assert hint.conflict == 18

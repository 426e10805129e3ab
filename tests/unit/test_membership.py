"""Membership safety (replication/membership.py): the one majority rule and the add/remove checks."""

from __future__ import annotations

from coordinator.replication.membership import Reachability, is_majority, refuse_add, refuse_remove


def test_a_majority_is_more_than_half_of_the_voters() -> None:
    assert [is_majority(n, 3) for n in range(4)] == [False, False, True, True]
    assert [is_majority(n, 4) for n in range(5)] == [False, False, False, True, True]


def test_an_add_counts_only_voters_reachable_now_not_the_learner() -> None:
    """Issue 8, defect 3: 3 voters with one down would become 2 of 4."""
    assert refuse_add(Reachability(reachable=3, voters=3), "dc4") is None
    refusal = refuse_add(Reachability(reachable=2, voters=3), "dc4")
    assert refusal is not None and "only 2 can acknowledge" in refusal and "members remove" in refusal


def test_growing_a_single_node_cluster_is_refused() -> None:
    assert refuse_add(Reachability(reachable=1, voters=1), "dc2") is not None


def test_removing_the_unreachable_voter_is_allowed_and_a_reachable_one_is_not() -> None:
    down_one = Reachability(reachable=2, voters=3)
    assert refuse_remove(down_one, "dc3", target_reachable=False) is None
    refusal = refuse_remove(down_one, "dc2", target_reachable=True)
    assert refusal is not None and "1 of 2 voters" in refusal


def test_the_last_voter_is_never_removed() -> None:
    assert refuse_remove(Reachability(reachable=1, voters=1), "dc1", target_reachable=True) is not None

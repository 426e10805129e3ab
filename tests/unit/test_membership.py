"""Membership safety (replication/membership.py): the one majority rule and the add/remove
checks."""

from __future__ import annotations

from coordinator.replication.membership import (
    CommittedMembership,
    Promotion,
    Reachability,
    is_majority,
    refuse_add,
    refuse_remove,
)
from coordinator.replication.snapshots import MemberAddress


def test_a_majority_is_more_than_half_of_the_voters() -> None:
    assert [is_majority(n, 3) for n in range(4)] == [False, False, True, True]
    assert [is_majority(n, 4) for n in range(5)] == [False, False, False, True, True]


def test_an_add_counts_only_voters_reachable_now_not_the_learner() -> None:
    """Issue 8, defect 3: 3 voters with one down would become 2 of 4."""
    assert refuse_add(Reachability(reachable=3, voters=3), "dc4") is None
    refusal = refuse_add(Reachability(reachable=2, voters=3), "dc4")
    assert (
        refusal is not None and "only 2 can acknowledge" in refusal and "members remove" in refusal
    )


def test_growing_a_single_node_cluster_is_refused() -> None:
    assert refuse_add(Reachability(reachable=1, voters=1), "dc2") is not None


def test_removing_the_unreachable_voter_is_allowed_and_a_reachable_one_is_not() -> None:
    down_one = Reachability(reachable=2, voters=3)
    assert refuse_remove(down_one, "dc3", target_reachable=False) is None
    refusal = refuse_remove(down_one, "dc2", target_reachable=True)
    assert refusal is not None and "1 of 2 voters" in refusal


def test_the_last_voter_is_never_removed() -> None:
    assert (
        refuse_remove(Reachability(reachable=1, voters=1), "dc1", target_reachable=True) is not None
    )


def member(address: str, node_id: str, added_index: int = 0) -> MemberAddress:
    return MemberAddress(address, node_id, "127.0.0.1:1", added_index)


def test_promotion_compares_addresses_exactly() -> None:
    """Issue 8, defect 4: the old check was a substring test, so a learner at host:500 took the
    add of host:5000 (before it joined) for its own and refused promotion as amnesia."""
    view = CommittedMembership([member("10.0.0.1:5000", "dc1")])
    view.apply("add", member("10.0.0.9:5000", "dc4", added_index=40))
    assert view.promotion("10.0.0.9:500", learner_floor=50) is Promotion.WAIT
    view.apply("add", member("10.0.0.9:500", "dc5", added_index=60))
    assert view.promotion("10.0.0.9:500", learner_floor=50) is Promotion.PROMOTE


def test_a_voter_added_before_the_learner_joined_is_amnesia_not_promotion() -> None:
    view = CommittedMembership([member("a:1", "dc1")])
    view.apply("add", member("b:1", "dc4", added_index=12))
    assert view.promotion("b:1", learner_floor=30) is Promotion.AMNESIA
    assert view.promotion("b:1", learner_floor=None) is Promotion.WAIT


def test_a_snapshot_replaces_the_view_and_a_removal_drops_the_member() -> None:
    view = CommittedMembership([member("a:1", "dc1"), member("b:1", "dc2")])
    # already a member: unchanged, as in pysyncobj
    view.apply("add", member("a:1", "dc1", added_index=99))
    assert view.get("a:1") == member("a:1", "dc1")
    view.apply("rem", member("b:1", "dc2"))
    assert [m.node_id for m in view.members()] == ["dc1"]
    view.replace([member("c:1", "dc3", added_index=7)])
    assert view.members() == (member("c:1", "dc3", added_index=7),)

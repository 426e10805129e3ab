"""The Raft leader's lease keeper (replication/leases.py) with a fake Raft node and clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from coordinator.core.commands import Barrier, Expire
from coordinator.core.lease import DueLease
from coordinator.replication.leases import LeaseKeeper

DUE = DueLease(epoch=3, lease_seq=7)
MS = 1_000_000


class FakeState:
    def __init__(self) -> None:
        self.armed = True

    def lease_armed(self) -> bool:
        return self.armed

    def lease_due(self, now_ns: int) -> DueLease | None:
        return DUE

    def arm_lease_timer(self) -> None:
        self.armed = True


class FakeRaft:
    """Records proposals; their callbacks fire only when a test says so."""

    def __init__(self) -> None:
        self.replicated = FakeState()
        self.leader = True
        self.current_term = 5
        self.proposed: list[tuple[Any, Callable[[Any, int], None]]] = []

    def is_leader(self) -> bool:
        return self.leader

    def term(self) -> int:
        return self.current_term

    def propose_async(self, command: Any, callback: Callable[[Any, int], None]) -> None:
        self.proposed.append((command, callback))

    def expiries(self) -> list[Any]:
        return [c for c, _ in self.proposed if isinstance(c, Expire)]


def test_a_lease_whose_expire_never_answered_is_proposed_again_by_the_next_leadership() -> None:
    """Issue 8, defect 8: an Expire whose callback never fires (its index was skipped by a
    snapshot install) left the keeper believing it was in flight; after a leadership change the
    same lease was never proposed for expiry again, and a dead engine kept the role."""
    raft = FakeRaft()
    keeper = LeaseKeeper(raft)  # type: ignore[arg-type]
    keeper.step(1_000 * MS)
    assert raft.expiries() == [Expire(3, 7)]
    raft.leader = False
    raft.replicated.armed = False
    keeper.step(1_010 * MS)
    raft.leader, raft.current_term = True, 6
    keeper.step(1_020 * MS)
    barrier = next(cb for c, cb in raft.proposed if isinstance(c, Barrier))
    barrier(None, 0)
    keeper.step(1_030 * MS)
    assert raft.expiries() == [Expire(3, 7), Expire(3, 7)]


def test_an_expire_that_never_answers_is_proposed_again_after_the_retry_bound() -> None:
    raft = FakeRaft()
    keeper = LeaseKeeper(raft, expire_retry_s=0.5)  # type: ignore[arg-type]
    keeper.step(1_000 * MS)
    keeper.step(1_400 * MS)
    assert len(raft.expiries()) == 1  # still in flight
    keeper.step(1_501 * MS)
    assert len(raft.expiries()) == 2

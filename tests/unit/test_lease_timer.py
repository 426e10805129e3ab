"""The Raft leader's lease bookkeeping (core/lease.py), driven by a fake clock."""

from __future__ import annotations

from coordinator.core.lease import DueLease, LeaseTimer
from coordinator.core.model import Lease

MS = 1_000_000


def lease(epoch: int = 1, seq: int = 0, ttl_ms: int = 500) -> Lease:
    return Lease("e1", epoch, ttl_ms, 0, 0, seq)


def test_nothing_is_due_until_the_timer_is_armed() -> None:
    timer = LeaseTimer()
    timer.observe(lease(), 0)
    assert timer.due(10_000 * MS) is None


def test_a_lease_is_due_a_full_ttl_after_the_last_renewal() -> None:
    timer = LeaseTimer()
    timer.arm(0)
    timer.observe(lease(seq=0), 0)
    timer.observe(lease(seq=1), 300 * MS)
    assert timer.due(799 * MS) is None
    assert timer.due(800 * MS) == DueLease(1, 1)


def test_a_new_leader_restarts_the_lease_at_its_full_ttl() -> None:
    timer = LeaseTimer()
    timer.observe(lease(), 0)  # applied as a follower at t=0
    timer.arm(400 * MS)  # became leader at t=400: restart, never shorten
    assert timer.due(899 * MS) is None
    assert timer.due(900 * MS) == DueLease(1, 0)
    assert timer.remaining_ms(500 * MS) == 400


def test_arming_never_shortens_a_lease() -> None:
    timer = LeaseTimer()
    timer.observe(lease(ttl_ms=500), 1000 * MS)
    timer.arm(0)
    assert timer.due(1499 * MS) is None


def test_a_released_lease_is_never_due_and_a_new_epoch_starts_fresh() -> None:
    timer = LeaseTimer()
    timer.arm(0)
    timer.observe(lease(epoch=1), 0)
    timer.observe(None, 100 * MS)
    assert timer.due(10_000 * MS) is None and timer.remaining_ms(0) is None
    timer.observe(lease(epoch=2), 200 * MS)
    assert timer.due(700 * MS) == DueLease(2, 0)


def test_losing_leadership_disarms() -> None:
    timer = LeaseTimer()
    timer.arm(0)
    timer.observe(lease(), 0)
    timer.disarm()
    assert timer.due(10_000 * MS) is None

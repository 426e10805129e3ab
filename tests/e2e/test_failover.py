"""Execution-engine failover end to end: real coordinator nodes, two real engine processes built
on the client library, and a simulated venue that counts every order by client_order_id.
In each scenario: no duplicate client_order_id at the venue, no acknowledged write lost,
epochs strictly increasing with one holder each, and equal digests on every node."""

from __future__ import annotations

import io
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from coordinator.demo.run import Demo
from coordinator.localcluster import wait_until

pytestmark = pytest.mark.cluster
MakeRig = Callable[..., Demo]


@pytest.fixture
def make_rig(has_failed: Callable[[], bool], tmp_path: Path) -> Iterator[MakeRig]:
    rigs: list[Demo] = []

    def build(ttl_ms: int = 500) -> Demo:
        rig = Demo(
            orders=10**9,
            ttl_ms=ttl_ms,
            rate=40.0,
            base=tmp_path / f"rig{len(rigs)}",
            out=io.StringIO(),
        )
        rigs.append(rig)
        rig.start()
        return rig

    yield build
    for rig in rigs:
        if has_failed():
            print(rig.cluster.log_tails(25))
            for engine in rig.engines.values():
                print(f"----- {engine.engine_id} events -----")
                print("\n".join(str(e) for e in engine.events()[-15:]))
        rig.close(keep_cluster=False)


def settle_and_check(rig: Demo) -> None:
    for engine in rig.engines.values():
        engine.stop()
    rig.cluster.wait_converged(30)
    failed = [(name, detail) for name, ok, detail in rig.invariant_checks() if not ok]
    assert failed == []


def test_takeover_after_sigkill_of_the_active_engine(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.stream_until(40)
    rig.scene_kill_active_engine()
    takeover = rig.state.takeovers[-1]
    assert takeover.epoch == 2 and takeover.from_engine != takeover.to_engine
    rig.stream_until(rig.venue_orders() + 40)
    settle_and_check(rig)


def test_a_paused_engine_is_fenced_when_it_wakes_up(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.stream_until(40)
    rig.scene_pause_active_engine()
    zombie = rig.state.zombie
    assert zombie is not None
    assert zombie["write"]["outcome"] == "STALE_EPOCH"
    assert zombie["demoted"]["reason"].startswith(("lease expired", "STALE_EPOCH", "NOT_HOLDER"))
    rig.stream_until(rig.venue_orders() + 40)
    settle_and_check(rig)


def test_a_graceful_resign_hands_over_without_waiting_for_the_lease(make_rig: MakeRig) -> None:
    rig = make_rig(ttl_ms=5000)
    rig.stream_until(40)
    epoch, active = rig.holder()
    standby = "eng-b" if active == "eng-a" else "eng-a"
    wait_until(
        lambda: any(e["event"] == "started" for e in rig.engines[standby].events()),
        30,
        "the standby",
    )
    resigned_at = time.time()
    rig.engines[active].signal(signal.SIGTERM)  # the engine stops and resigns
    elected = rig.elected_after(standby, resigned_at, epoch + 1)
    assert elected["granted_at"] - resigned_at < 2.5  # a lease expiry would take 5 s
    rig.stream_until(rig.venue_orders() + 40)
    settle_and_check(rig)


def test_orders_continue_after_the_raft_leader_is_killed(make_rig: MakeRig) -> None:
    rig = make_rig()
    rig.stream_until(40)
    rig.scene_kill_raft_leader()
    assert rig.state.writes_resumed_s is not None
    rig.stream_until(rig.venue_orders() + 40)
    rig.cluster.wait_serving(30)
    settle_and_check(rig)

"""The order of a benchmark's runs (coordinator/bench/run.py): within each round, for each
client count and in-flight depth, the coordinator's modes and then etcd's put, so that the runs
a ratio compares ran seconds apart."""

from __future__ import annotations

from coordinator.bench.run import BenchSettings, plans


def test_each_round_interleaves_the_coordinator_modes_and_etcd_per_load_shape() -> None:
    settings = BenchSettings(
        modes=("unary", "stream"),
        clients=(1, 32),
        in_flight=(1,),
        duration_s=3.0,
        rounds=2,
        etcd_binary="/usr/bin/etcd",
    )
    assert [(p.round, p.system, p.mode, p.clients, p.in_flight) for p in plans(settings)] == [
        (1, "coordinator", "unary", 1, 1),
        (1, "coordinator", "stream", 1, 1),
        (1, "etcd", "put", 1, 1),
        (1, "coordinator", "unary", 32, 1),
        (1, "coordinator", "stream", 32, 1),
        (1, "etcd", "put", 32, 1),
        (2, "coordinator", "unary", 1, 1),
        (2, "coordinator", "stream", 1, 1),
        (2, "etcd", "put", 1, 1),
        (2, "coordinator", "unary", 32, 1),
        (2, "coordinator", "stream", 32, 1),
        (2, "etcd", "put", 32, 1),
    ]


def test_without_etcd_only_the_coordinator_runs_for_each_in_flight_depth() -> None:
    settings = BenchSettings(
        modes=("stream",), clients=(4,), in_flight=(1, 8), duration_s=1.0, rounds=1
    )
    assert [(p.system, p.mode, p.clients, p.in_flight) for p in plans(settings)] == [
        ("coordinator", "stream", 4, 1),
        ("coordinator", "stream", 4, 8),
    ]

"""The rounds of `coordinator bench`: start the clusters, run every (system, mode, clients,
in-flight) of each round back to back, interleaved, measure each run's CPU per order, and stop
every process at the end, on failure too.

Order within a round: for each client count, for each in-flight depth, the coordinator's modes
and then etcd's put, so that the runs a ratio compares ran seconds apart on this shared,
noisy machine. Every client of a run is aimed at the Raft leader found just before the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import grpc

from coordinator.bench.cpu import CLOCK_TICKS_PER_S, cpu_snapshot, cpu_us_per_order
from coordinator.bench.etcd import PUT_REQUEST_BYTES, EtcdCluster, EtcdPuts, etcd_version
from coordinator.bench.load import DRAIN_GRACE_S, LoadShape, OrderSession, Tally, drive
from coordinator.bench.orders import ORDER_REQUEST_BYTES, BenchEngine, StreamOrders, UnaryOrders
from coordinator.bench.report import (
    COORDINATOR,
    ETCD,
    ETCD_PUT,
    LOAD_GENERATOR,
    Progress,
    RunPlan,
    RunResult,
    ratios,
    report_json,
    summarize,
    table,
)
from coordinator.bench.truncation import truncations
from coordinator.localcluster import LocalCluster
from coordinator.wire.channel import CHANNEL_OPTIONS

UNARY = "unary"
STREAM = "stream"
MODES = (UNARY, STREAM)
# Each client gets its own connection, as separate engines or etcd clients would.
CLIENT_CHANNEL_OPTIONS = [*CHANNEL_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
CONNECT_TIMEOUT_S = 10.0
PROGRESS_INTERVAL_S = 0.25


@dataclass(frozen=True)
class BenchSettings:
    """What one `coordinator bench` measures. `etcd_binary` set means: compare with etcd."""

    modes: tuple[str, ...]
    clients: tuple[int, ...]
    in_flight: tuple[int, ...]
    duration_s: float
    rounds: int
    etcd_binary: str | None = None
    guards: bool = False
    json_path: Path | None = None
    warmup_s: float = 1.0
    call_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        assert self.modes and set(self.modes) <= set(MODES), self.modes
        assert self.clients and min(self.clients) >= 1, self.clients
        assert self.in_flight and min(self.in_flight) >= 1, self.in_flight
        assert self.duration_s > 0 and self.rounds >= 1, self


def plans(settings: BenchSettings) -> list[RunPlan]:
    """Every measured run, in the order they run."""
    found = []
    for round_ in range(1, settings.rounds + 1):
        for clients in settings.clients:
            for in_flight in settings.in_flight:
                for mode in settings.modes:
                    found.append(RunPlan(COORDINATOR, mode, clients, in_flight, round_))
                if settings.etcd_binary:
                    found.append(RunPlan(ETCD, ETCD_PUT, clients, in_flight, round_))
    return found


class Target(Protocol):
    """A system under load: where its leader is, which processes are its own, and one client's
    session of a given mode on a channel to the leader."""

    def leader(self) -> tuple[str, str]:
        """(the leader's name, its gRPC address)."""

    def pids(self) -> dict[str, int]: ...

    def session(
        self, mode: str, channel: grpc.aio.Channel, prefix: str, timeout_s: float
    ) -> OrderSession: ...


@dataclass
class CoordinatorTarget:
    cluster: LocalCluster
    engine: BenchEngine

    def leader(self) -> tuple[str, str]:
        node_id = self.cluster.wait_for_leader(30)
        return node_id, self.cluster.nodes[node_id].grpc_address

    def pids(self) -> dict[str, int]:
        return {nid: n.pid for nid, n in self.cluster.nodes.items() if n.pid is not None}

    def session(
        self, mode: str, channel: grpc.aio.Channel, prefix: str, timeout_s: float
    ) -> OrderSession:
        if mode == STREAM:
            return StreamOrders(channel, self.engine, prefix, timeout_s)
        return UnaryOrders(channel, self.engine, prefix, timeout_s)


@dataclass
class EtcdTarget:
    cluster: EtcdCluster

    def leader(self) -> tuple[str, str]:
        name = self.cluster.leader()
        return name, self.cluster.members[name].client_address

    def pids(self) -> dict[str, int]:
        return self.cluster.pids()

    def session(
        self, mode: str, channel: grpc.aio.Channel, prefix: str, timeout_s: float
    ) -> OrderSession:
        return EtcdPuts(channel, prefix, timeout_s)


async def measure(
    target: Target,
    plan: RunPlan,
    shape: LoadShape,
    tag: str,
    progress: Progress | None,
) -> RunResult:
    """One run of `plan` on `target`: connects `shape.clients` channels to the leader, opens a
    session on each, then measures the CPU of every process around the driver's window.
    Sessions and channels are closed whatever happens."""
    leader, address = target.leader()
    channels = [
        grpc.aio.insecure_channel(address, options=CLIENT_CHANNEL_OPTIONS)
        for _ in range(shape.clients)
    ]
    sessions: list[OrderSession] = []
    ticker: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(
            asyncio.gather(*(c.channel_ready() for c in channels)), CONNECT_TIMEOUT_S
        )
        # a stream's deadline bounds every wait on it (load.py's own deadline, plus a margin)
        timeout_s = shape.call_timeout_s
        if plan.mode == STREAM:
            timeout_s = shape.duration_s + shape.call_timeout_s + DRAIN_GRACE_S + 5
        sessions = [
            target.session(plan.mode, channel, f"{tag}c{i:03d}-", timeout_s)
            for i, channel in enumerate(channels)
        ]
        pids = {**target.pids(), LOAD_GENERATOR: os.getpid()}
        tally = Tally()
        if progress is not None and progress.live:
            ticker = asyncio.create_task(show_progress(progress, plan, shape, tally))
        before = cpu_snapshot(pids)
        record = await drive(sessions, shape, tally)
        after = cpu_snapshot(pids)
    finally:
        if ticker is not None:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)
        await asyncio.gather(*(s.close() for s in sessions), return_exceptions=True)
        await asyncio.gather(*(c.close(None) for c in channels), return_exceptions=True)
    return RunResult(plan, record, leader, cpu_us_per_order(before, after, record.committed))


async def show_progress(progress: Progress, plan: RunPlan, shape: LoadShape, tally: Tally) -> None:
    """Rewrites the run's progress line until cancelled (at most as long as a run can last)."""
    started = time.monotonic()
    longest_s = shape.duration_s + shape.call_timeout_s + DRAIN_GRACE_S
    for _ in range(int(longest_s / PROGRESS_INTERVAL_S) + 1):
        progress.running(plan, time.monotonic() - started, shape.duration_s, tally)
        await asyncio.sleep(PROGRESS_INTERVAL_S)


async def measure_all(
    settings: BenchSettings, progress: Progress
) -> tuple[list[RunResult], dict[str, Any]]:
    """Starts the clusters, warms each system and mode up, runs every plan, stops everything.
    Returns the results and what else the report holds (truncated entries per node)."""
    results: list[RunResult] = []
    with contextlib.ExitStack() as stack:
        progress.note("starting a 3-node coordinator cluster (127.0.0.1, fsync on)")
        cluster = stack.enter_context(LocalCluster())
        cluster.start()
        engine = BenchEngine.grant(cluster)
        targets: dict[str, Target] = {COORDINATOR: CoordinatorTarget(cluster, engine)}
        if settings.etcd_binary:
            progress.note(f"starting a 3-member etcd cluster ({settings.etcd_binary})")
            etcd = stack.enter_context(EtcdCluster(settings.etcd_binary))
            etcd.start()
            targets[ETCD] = EtcdTarget(etcd)
        await warm_up(settings, targets, progress)
        for number, plan in enumerate(plans(settings)):
            if plan.system == COORDINATOR:
                engine.renew(cluster)
            shape = LoadShape(
                plan.clients, plan.in_flight, settings.duration_s, settings.call_timeout_s
            )
            tag = f"b{number:03d}" if plan.system == COORDINATOR else f"bench/b{number:03d}/"
            result = await measure(targets[plan.system], plan, shape, tag, progress)
            progress.finished(result)
            results.append(result)
        truncated = {n: s.acked_entries_truncated for n, s in cluster.statuses().items()}
    return results, {"acked_entries_truncated": truncated}


async def warm_up(settings: BenchSettings, targets: dict[str, Target], progress: Progress) -> None:
    """A short unrecorded run of each system and mode at the largest client count, so that the
    first measured run does not pay for connections, imports and caches."""
    if settings.warmup_s <= 0:
        return
    clients = max(settings.clients)
    warm = [(COORDINATOR, mode) for mode in settings.modes]
    if ETCD in targets:
        warm.append((ETCD, ETCD_PUT))
    for system, mode in warm:
        plan = RunPlan(system, mode, clients, 1, 0)
        shape = LoadShape(clients, 1, settings.warmup_s, settings.call_timeout_s)
        tag = f"w{mode[0]}" if system == COORDINATOR else f"bench/warm/{mode}/"
        result = await measure(targets[system], plan, shape, tag, None)
        text = f"warm-up {system} {mode}: {result.record.committed} committed"
        if result.record.errors:
            text += f", {result.record.errors} errors (first: {result.record.error_texts[0]})"
        progress.note(text)


def settings_json(settings: BenchSettings) -> dict[str, Any]:
    return {
        "modes": list(settings.modes),
        "clients": list(settings.clients),
        "in_flight": list(settings.in_flight),
        "duration_s": settings.duration_s,
        "rounds": settings.rounds,
        "compare": "etcd" if settings.etcd_binary else None,
        "etcd_version": etcd_version(settings.etcd_binary) if settings.etcd_binary else None,
        "guards": settings.guards,
        "order_request_bytes": ORDER_REQUEST_BYTES,
        "etcd_put_request_bytes": PUT_REQUEST_BYTES,
        "cpus": os.cpu_count(),
        "clock_ticks_per_s": CLOCK_TICKS_PER_S,
        "python": platform.python_version(),
        "grpc": grpc.__version__,
    }


async def bench(
    settings: BenchSettings, progress: Progress
) -> tuple[list[RunResult], dict[str, Any]]:
    """Every measured run, then (with `settings.guards`) the truncation comparison. SIGTERM
    cancels it like Ctrl-C does, so that every cluster it started is stopped on the way out."""
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    results, extra = await measure_all(settings, progress)
    if settings.guards:
        progress.note(f"truncation of acknowledged entries under load ({settings.duration_s} s):")
        extra["truncation"] = [
            await truncations(settings.duration_s, False, progress),
            await truncations(settings.duration_s, True, progress),
        ]
    return results, extra


def main(
    settings: BenchSettings, out: TextIO = sys.stdout, err: TextIO = sys.stderr
) -> dict[str, Any]:
    """Runs the benchmark, prints the final table on `out` (progress on `err`), writes the JSON
    report if asked, and returns it."""
    progress = Progress(err, len(plans(settings)))
    results, extra = asyncio.run(bench(settings, progress))
    heading = f"\nmedians of {settings.rounds} round(s) of {settings.duration_s:g} s, fsync on"
    if settings.etcd_binary:
        heading += "; etcd puts at the same clients and in-flight; ratios are coordinator / etcd"
    print(heading, file=out)
    print(table(summarize(results), ratios(results)), file=out)
    failing = [r for r in results if r.record.errors]
    if failing:
        print(f"{len(failing)} of {len(results)} runs had errors (see the JSON report)", file=err)
    report = report_json(settings_json(settings), results, extra)
    if settings.json_path is not None:
        settings.json_path.parent.mkdir(parents=True, exist_ok=True)
        settings.json_path.write_text(json.dumps(report, indent=2, allow_nan=False) + "\n")
        print(f"report written to {settings.json_path}", file=err)
    return report

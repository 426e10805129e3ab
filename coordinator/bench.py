"""`coordinator bench`: throughput and latency of fenced order writes through gRPC on a real
local 3-node cluster, and pysyncobj's truncation defect with and without the guards.

Method: one cluster; an engine holds the role; a single client process keeps `window` SubmitOrder
calls in flight (gRPC futures) against the Raft leader for `duration` seconds and records each
call's latency. Windows run interleaved over several rounds and the report gives the median of
the rounds, because this machine is shared and noisy. Each committed order is fsynced on a
majority before it is acknowledged.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc

from coordinator.localcluster import LocalCluster
from coordinator.v1 import engine_pb2, engine_pb2_grpc, types_pb2


@dataclass
class LoadResult:
    window: int
    seconds: float
    committed: int
    failed: int
    orders_per_s: float
    latency_ms_p50: float
    latency_ms_p99: float


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def grant(cluster: LocalCluster, engine_id: str) -> int:
    response = cluster.call(
        "Engine",
        "Campaign",
        engine_pb2.CampaignRequest(
            engine_id=engine_id, ttl_ms=600_000, request_id=f"bench-{time.time_ns()}"
        ),
    )
    if not response.granted:
        raise RuntimeError(f"could not grant the benchmark engine: {response}")
    return int(response.epoch)


def run_load(
    stub: engine_pb2_grpc.EngineStub, epoch: int, window: int, seconds: float, prefix: str
) -> LoadResult:
    """Keeps `window` SubmitOrder calls in flight for `seconds`."""
    slots = threading.BoundedSemaphore(window)
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    sent = 0
    while time.monotonic() < deadline:
        if not slots.acquire(timeout=10):
            raise RuntimeError("no call completed for 10 s")
        call_started = time.monotonic()
        future = stub.SubmitOrder.future(
            engine_pb2.SubmitOrderRequest(
                engine_id="bench",
                epoch=epoch,
                client_order_id=f"{prefix}-{sent}",
                account="BENCH",
                instrument="BTC-USD",
                side=types_pb2.BUY,
                quantity="1",
                price="100",
            ),
            timeout=10,
        )

        def done(f: grpc.Future[Any], t0: float = call_started) -> None:
            elapsed = time.monotonic() - t0
            with lock:
                if f.exception() is None:
                    latencies.append(elapsed)
                else:
                    failures[0] += 1
            slots.release()

        future.add_done_callback(done)
        sent += 1
    for _ in range(window):  # drain
        slots.acquire(timeout=30)
    elapsed = time.monotonic() - started
    return LoadResult(
        window,
        round(elapsed, 2),
        len(latencies),
        failures[0],
        round(len(latencies) / elapsed, 1),
        round(percentile(latencies, 0.5) * 1000, 2),
        round(percentile(latencies, 0.99) * 1000, 2),
    )


def throughput(
    windows: list[int], seconds: float, rounds: int, log: Callable[[str], None]
) -> dict[str, Any]:
    with LocalCluster() as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        stub = engine_pb2_grpc.EngineStub(cluster.channel(leader))  # type: ignore[no-untyped-call]
        epoch = grant(cluster, "bench")
        run_load(stub, epoch, 8, 1.0, "warmup")
        runs: list[LoadResult] = []
        for r in range(rounds):
            for window in windows:
                result = run_load(stub, epoch, window, seconds, f"r{r}w{window}")
                log(
                    f"  round {r + 1} window {window:>3}: {result.orders_per_s:>8.0f} orders/s  "
                    f"p50 {result.latency_ms_p50:6.2f} ms  p99 {result.latency_ms_p99:6.2f} ms  "
                    f"failed {result.failed}"
                )
                runs.append(result)
        statuses = cluster.statuses()
        summary = []
        for window in windows:
            mine = [r for r in runs if r.window == window]
            summary.append(
                {
                    "window": window,
                    "orders_per_s_median": statistics.median(r.orders_per_s for r in mine),
                    "orders_per_s_range": [
                        min(r.orders_per_s for r in mine),
                        max(r.orders_per_s for r in mine),
                    ],
                    "latency_ms_p50_median": statistics.median(r.latency_ms_p50 for r in mine),
                    "latency_ms_p99_median": statistics.median(r.latency_ms_p99 for r in mine),
                    "failed": sum(r.failed for r in mine),
                }
            )
        return {
            "runs": [asdict(r) for r in runs],
            "summary": summary,
            "acked_entries_truncated": {n: s.acked_entries_truncated for n, s in statuses.items()},
        }


def truncations(seconds: float, guards: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """Acknowledged entries followers truncated under sustained load, with or without the guards."""
    env = {} if guards else {"COORDINATOR_UNSAFE_DISABLE_LOG_GUARDS": "1"}
    with LocalCluster(env=env) as cluster:
        cluster.start()
        leader = cluster.wait_for_leader()
        stub = engine_pb2_grpc.EngineStub(cluster.channel(leader))  # type: ignore[no-untyped-call]
        epoch = grant(cluster, "bench")
        result = run_load(stub, epoch, 128, seconds, "trunc")
        cluster.wait_converged(60)
        counts = {n: s.acked_entries_truncated for n, s in cluster.statuses().items()}
        log(
            f"  guards {'on ' if guards else 'off'}: {result.committed} orders, acknowledged "
            f"entries truncated per node {counts}"
        )
        return {
            "guards": guards,
            "orders": result.committed,
            "acked_entries_truncated": counts,
            "total": sum(counts.values()),
        }


def main(
    windows: list[int],
    seconds: float,
    rounds: int,
    compare_guards: bool,
    out: Path | None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    log(
        f"throughput: windows {windows}, {rounds} rounds of {seconds:.0f} s each (3 nodes, "
        "127.0.0.1, fsync on)"
    )
    report: dict[str, Any] = {"throughput": throughput(windows, seconds, rounds, log)}
    if compare_guards:
        log("truncation of acknowledged entries under load (window 128):")
        report["truncation"] = [truncations(seconds, False, log), truncations(seconds, True, log)]
    log("")
    log("window  orders/s (median, range)     p50 ms   p99 ms")
    for row in report["throughput"]["summary"]:
        low, high = row["orders_per_s_range"]
        log(
            f"{row['window']:>6}  {row['orders_per_s_median']:>8.0f}  "
            f"({low:.0f}-{high:.0f}){'':>8}{row['latency_ms_p50_median']:>7.2f}  "
            f"{row['latency_ms_p99_median']:>7.2f}"
        )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        log(f"report written to {out}")
    return report

"""`coordinator bench-takeover`: how long failover takes, measured many times on real processes.

- Engine SIGKILL: from the kill of the active engine until the standby holds the next grant
  (its on_elected fires), and until it has reconciled the inherited book with the venue.
- Raft leader SIGKILL (the active engine keeps running): from the kill until a new Raft leader
  is elected, and until orders reach the venue again (the engine's lease may lapse locally
  during the election; it then resumes its epoch or a standby takes over).

Each kind is repeated `count` times on one cluster; the report gives the median and max.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from coordinator.demo.run import Demo
from coordinator.localcluster import wait_until


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "median_ms": round(statistics.median(values) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
        "min_ms": round(min(values) * 1000, 1),
    }


def holder_at_least(demo: Demo, epoch: int) -> tuple[int, str] | None:
    """The holder as Observe reports it, once it reports `epoch` or later."""
    current = demo.holder()
    return current if current[1] and current[0] >= epoch else None


def is_standby(demo: Demo, engine_id: str) -> bool:
    events = demo.engines[engine_id].events()
    return bool(events) and events[-1]["event"] in ("started", "demoted")


def venue_grew(demo: Demo, beyond: int) -> bool:
    return demo.venue_orders() > beyond


def arrived_since(demo: Demo, since: float) -> bool:
    return any(t > since for t, *_ in demo.venue.snapshot()[2][-20:])


def engine_kills(demo: Demo, count: int, out: TextIO) -> dict[str, Any]:
    grants, ready = [], []
    last_epoch = 0
    for i in range(count):
        epoch, active = wait_until(
            partial(holder_at_least, demo, last_epoch), 30, "the observed grant to catch up"
        )
        standby = "eng-b" if active == "eng-a" else "eng-a"
        wait_until(partial(is_standby, demo, standby), 30, f"{standby} to be a running standby")
        wait_until(lambda: demo.venue_orders() > 0, 30, "orders flowing")
        time.sleep(0.3)  # let keep-alives settle into their rhythm
        killed_at = time.time()
        demo.engines[active].kill()
        elected = demo.elected_after(standby, killed_at, epoch + 1)
        last_epoch = elected["epoch"]
        grants.append(elected["granted_at"] - killed_at)
        ready.append(elected["t"] - killed_at)
        out.write(
            f"  engine kill {i + 1:>2}/{count}: {active} -> {standby} epoch {elected['epoch']}: "
            f"granted {grants[-1] * 1000:.0f} ms, trading again {ready[-1] * 1000:.0f} ms\n"
        )
        out.flush()
        demo.engines[active].start()
    return {"granted": summarize(grants), "trading_again": summarize(ready)}


def leader_kills(demo: Demo, count: int, out: TextIO) -> dict[str, Any]:
    elections, resumed = [], []
    for i in range(count):
        leader = demo.cluster.wait_for_leader(30)
        wait_until(lambda: demo.holder()[1] != "", 30, "an active engine")
        before = demo.venue_orders()
        wait_until(partial(venue_grew, demo, before + 5), 30, "orders flowing before the kill")
        killed_at = time.time()
        demo.cluster.kill(leader)
        demo.cluster.wait_for_leader(30, exclude=leader)
        elections.append(time.time() - killed_at)
        wait_until(partial(arrived_since, demo, killed_at), 30, "orders to reach the venue again")
        first = min(t for t, *_ in demo.venue.snapshot()[2] if t > killed_at)
        resumed.append(first - killed_at)
        out.write(
            f"  leader kill {i + 1:>2}/{count}: {leader}: new leader {elections[-1] * 1000:.0f} "
            f"ms, orders again {resumed[-1] * 1000:.0f} ms\n"
        )
        out.flush()
        demo.cluster.start_node(leader)
        demo.cluster.wait_serving(30)
        demo.cluster.wait_caught_up(leader, 30)
    return {"new_leader": summarize(elections), "orders_again": summarize(resumed)}


def main(
    count: int = 20, ttl_ms: int = 500, out: TextIO = sys.stdout, json_out: Path | None = None
) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="coordinator-takeover-"))
    demo = Demo(orders=10**9, ttl_ms=ttl_ms, rate=40.0, base=base, out=open("/dev/null", "w"))  # noqa: SIM115
    report: dict[str, Any] = {"ttl_ms": ttl_ms, "count": count}
    try:
        demo.start()
        out.write(f"engine SIGKILL takeovers (ttl_ms={ttl_ms}):\n")
        report["engine_kill"] = engine_kills(demo, count, out)
        out.write("Raft leader SIGKILL:\n")
        report["leader_kill"] = leader_kills(demo, count, out)
        report["duplicates_at_venue"] = len(demo.venue.duplicates)
    finally:
        demo.close(keep_cluster=False)
    for kind, parts in (
        ("engine kill", report["engine_kill"]),
        ("leader kill", report["leader_kill"]),
    ):
        for name, stats in parts.items():
            out.write(
                f"{kind:<12} {name:<14} median {stats['median_ms']:>7.1f} ms   max "
                f"{stats['max_ms']:>7.1f} ms   (n={stats['count']})\n"
            )
    out.write(f"duplicates at the venue: {report['duplicates_at_venue']}\n")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2) + "\n")
        out.write(f"report written to {json_out}\n")
    return report

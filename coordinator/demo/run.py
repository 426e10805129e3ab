"""`coordinator demo`: a 3-node coordinator cluster, two execution engines (separate processes)
and a simulated venue on one machine, driven through three failures:

1. the active engine is killed (SIGKILL): the standby takes over with a higher epoch and the
   open-order book, reconciles it with the venue and carries on;
2. the new active engine is paused (SIGSTOP) past its lease; the other takes over; when it is
   resumed, the write it had queued carries its old epoch and the coordinator refuses it
   (STALE_EPOCH), and it reports itself demoted;
3. the Raft leader node is killed: order flow continues once the coordinator fails over.

It ends with a summary and exits 0 only if every check held: no duplicate at the venue, every
order the venue received is in the coordinator's book, epochs strictly increasing with one
holder each, the zombie's write refused, and every node's state digest equal.
"""

from __future__ import annotations

import json
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from coordinator.client import CoordinatorClient
from coordinator.demo.summary import (
    Arrival,
    Check,
    DemoFacts,
    Grant,
    Reconciliation,
    Takeover,
    invariant_checks,
    summarize,
    venue_line,
)
from coordinator.demo.venue import Venue
from coordinator.localcluster import LocalCluster, ManagedProcess, wait_until
from coordinator.v1 import admin_pb2


class EngineProcess(ManagedProcess):
    """One demo engine process."""

    def __init__(
        self, engine_id: str, directory: Path, cluster: str, venue: str, ttl_ms: int, rate: float
    ) -> None:
        self.engine_id = engine_id
        self.events_path = directory / f"{engine_id}.events.jsonl"
        super().__init__(
            [
                sys.executable,
                "-m",
                "coordinator.demo.engine",
                "--engine-id",
                engine_id,
                "--cluster",
                cluster,
                "--venue",
                venue,
                "--ttl-ms",
                str(ttl_ms),
                "--events",
                str(self.events_path),
                "--rate",
                str(rate),
            ],
            directory / f"{engine_id}.log",
        )

    def events(self) -> list[dict[str, Any]]:
        if not self.events_path.exists():
            return []
        return [
            json.loads(line) for line in self.events_path.read_text().splitlines() if line.strip()
        ]


@dataclass
class DemoState:
    """What the live view shows and the summary checks."""

    scene: str = "starting"
    phase: str = "start"  # the fault the run is in, which each grant is recorded with
    grants: list[Grant] = field(default_factory=list)
    takeovers: list[Takeover] = field(default_factory=list)
    raft_failover_s: float | None = None
    writes_resumed_s: float | None = None
    zombie: dict[str, Any] | None = None


class Demo:
    def __init__(self, orders: int, ttl_ms: int, rate: float, base: Path, out: TextIO) -> None:
        self.orders, self.ttl_ms, self.rate, self.base, self.out = orders, ttl_ms, rate, base, out
        self.cluster = LocalCluster(base_dir=base / "cluster", keep=True)
        self.venue = Venue()
        self.state = DemoState()
        self.engines: dict[str, EngineProcess] = {}
        self._stop = threading.Event()
        self._live = out.isatty()
        self._lines_drawn = 0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self.cluster.start()
        self.venue.start()
        self.client = CoordinatorClient(self.cluster.addresses())
        addresses = ",".join(self.cluster.addresses())
        for engine_id in ("eng-a", "eng-b"):
            self.engines[engine_id] = EngineProcess(
                engine_id, self.base, addresses, self.venue.address, self.ttl_ms, self.rate
            )
            self.engines[engine_id].start()
        threading.Thread(target=self._observe, daemon=True).start()
        threading.Thread(target=self._render_loop, daemon=True).start()

    def close(self, keep_cluster: bool) -> None:
        self._stop.set()
        for engine in self.engines.values():
            engine.stop()
        self.venue.stop()
        if not keep_cluster:
            self.cluster.close()

    def _observe(self) -> None:
        for event in self.client.observe(stop=self._stop):
            if event.holder_id and (
                not self.state.grants or self.state.grants[-1].epoch != event.epoch
            ):
                self.state.grants.append(Grant(event.epoch, event.holder_id, self.state.phase))

    # --------------------------------------------------------------------- helpers

    def holder(self) -> tuple[int, str]:
        grants = self.state.grants
        return (grants[-1].epoch, grants[-1].holder) if grants else (0, "")

    def venue_orders(self) -> int:
        return self.venue.snapshot()[0]

    def stream_until(self, count: int, timeout_s: float = 60.0) -> None:
        wait_until(
            lambda: self.venue_orders() >= count, timeout_s, f"the venue to receive {count} orders"
        )

    def elected_after(self, engine_id: str, after: float, min_epoch: int) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (
                    e
                    for e in self.engines[engine_id].events()
                    if e["event"] == "elected" and e["t"] >= after and e["epoch"] >= min_epoch
                ),
                None,
            )

        return wait_until(
            found, 30, f"{engine_id} to be elected with an epoch above {min_epoch - 1}"
        )

    # ---------------------------------------------------------------------- scenes

    def scene_kill_active_engine(self) -> None:
        epoch, active = wait_until(
            lambda: self.holder() if self.holder()[1] else None, 30, "an active engine"
        )
        standby = "eng-b" if active == "eng-a" else "eng-a"
        self.state.scene = f"1/3 SIGKILL of the active engine {active}"
        self.state.phase = "engine SIGKILL"
        killed_at = time.time()
        self.engines[active].kill()
        elected = self.elected_after(standby, killed_at, epoch + 1)
        self.state.takeovers.append(
            Takeover(
                "engine SIGKILL",
                active,
                standby,
                elected["epoch"],
                elected["granted_at"] - killed_at,
                elected["reconcile_ms"],
                Reconciliation.from_event(elected),
            )
        )
        self.engines[active].start()  # back as the standby

    def scene_pause_active_engine(self) -> None:
        epoch, active = self.holder()
        other = "eng-b" if active == "eng-a" else "eng-a"
        wait_until(
            lambda: any(e["event"] == "started" for e in self.engines[other].events()),
            30,
            f"{other} to be running again",
        )
        self.state.scene = f"2/3 SIGSTOP of the active engine {active} past its lease"
        self.state.phase = "engine SIGSTOP"
        paused_at = time.time()
        self.engines[active].signal(signal.SIGSTOP)
        elected = self.elected_after(other, paused_at, epoch + 1)
        self.state.takeovers.append(
            Takeover(
                "engine SIGSTOP",
                active,
                other,
                elected["epoch"],
                elected["granted_at"] - paused_at,
                elected["reconcile_ms"],
                Reconciliation.from_event(elected),
            )
        )
        self.state.scene = (
            f"2/3 resuming the paused engine {active} (a zombie holding epoch {epoch})"
        )
        self.engines[active].signal(signal.SIGCONT)

        def zombie() -> dict[str, Any] | None:
            events = self.engines[active].events()
            write = next(
                (e for e in events if e["event"] == "zombie_write" and e["t"] >= paused_at), None
            )
            demoted = next(
                (e for e in events if e["event"] == "demoted" and e["t"] >= paused_at), None
            )
            return {"write": write, "demoted": demoted} if write and demoted else None

        self.state.zombie = wait_until(
            zombie, 30, f"{active} to report its zombie write and its demotion"
        )

    def scene_kill_raft_leader(self) -> None:
        leader = self.cluster.wait_for_leader()
        self.state.scene = f"3/3 SIGKILL of the Raft leader node {leader}"
        self.state.phase = "Raft leader kill"
        before = self.venue_orders()
        killed_at = time.time()
        self.cluster.kill(leader)
        self.cluster.wait_for_leader(30, exclude=leader)
        self.state.raft_failover_s = time.time() - killed_at
        self.stream_until(before + 1)
        arrivals = self.venue.snapshot()[2]
        first_after = min((t for t, *_ in arrivals if t > killed_at), default=time.time())
        self.state.writes_resumed_s = first_after - killed_at
        self.cluster.start_node(leader)

    def stop_engines(self) -> None:
        """Stops the standbys before the holder: the holder resigns as it stops, and a standby
        still campaigning then would be granted the role while the run is being tallied."""
        for engine_id in standbys_first(list(self.engines), self.holder()[1]):
            self.engines[engine_id].stop()

    # ------------------------------------------------------------------------ run

    def run(self) -> bool:
        self.start()
        self.state.scene = "streaming orders"
        self.stream_until(self.orders // 4)
        self.scene_kill_active_engine()
        self.state.scene = "streaming orders"
        self.stream_until(self.orders // 2)
        self.scene_pause_active_engine()
        self.state.scene = "streaming orders"
        self.stream_until(3 * self.orders // 4)
        self.scene_kill_raft_leader()
        self.state.scene = "streaming orders"
        self.stream_until(self.orders)
        self.state.scene = "stopping the engines and checking"
        self.state.phase = "stopping"
        self.stop_engines()
        self.cluster.wait_serving(30)
        self.cluster.wait_converged(30)
        self._stop.set()
        time.sleep(0.3)
        return self.report()

    # --------------------------------------------------------------------- output

    def _render_loop(self) -> None:
        while not self._stop.wait(0.25 if self._live else 3.0):
            self.render()

    def render(self) -> None:
        statuses = self.cluster.statuses()
        nodes = "  ".join(
            f"{nid}:{admin_pb2.Role.Name(s.role).lower()[:6]}"
            for nid, s in sorted(statuses.items())
        )
        down = [nid for nid, n in self.cluster.nodes.items() if not n.running()]
        epoch, holder = self.holder()
        lines = [
            f"scene   {self.state.scene}",
            f"nodes   {nodes}{'  down: ' + ','.join(down) if down else ''}",
            f"engine  {holder or '-'} at epoch {epoch}",
            venue_line(self.orders, self.arrivals()),
        ]
        if self._live:
            if self._lines_drawn:
                self.out.write(f"\x1b[{self._lines_drawn}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._lines_drawn = len(lines)
        else:
            self.out.write(" | ".join(lines) + "\n")
        self.out.flush()

    def arrivals(self) -> tuple[Arrival, ...]:
        return tuple(Arrival(*arrival) for arrival in self.venue.snapshot()[2])

    def facts(self) -> DemoFacts:
        """What the run recorded, read once, for the summary and its checks."""
        zombie = self.state.zombie or {}
        return DemoFacts(
            orders_target=self.orders,
            grants=tuple(self.state.grants),
            takeovers=tuple(self.state.takeovers),
            arrivals=self.arrivals(),
            book=frozenset(o.client_order_id for o in self.client.orders()),
            digests=frozenset(s.digest for s in self.cluster.statuses().values()),
            raft_failover_s=self.state.raft_failover_s,
            writes_resumed_s=self.state.writes_resumed_s,
            zombie_write=zombie.get("write"),
            zombie_demoted=zombie.get("demoted"),
        )

    def invariant_checks(self) -> list[Check]:
        """The checks every failover must pass (name, held, detail when it did not)."""
        return invariant_checks(self.facts())

    def report(self) -> bool:
        self.render()
        summary = summarize(self.facts())
        w = self.out.write
        w("\nsummary\n")
        for line in summary.lines:
            w(f"  {line}\n")
        w("\nchecks\n")
        for name, ok, detail in summary.checks:
            w(f"  [{'ok' if ok else 'FAILED'}] {name}{'' if ok else '  -- ' + detail}\n")
        verdict = "all checks held" if summary.passed else "SOME CHECKS FAILED"
        w(f"\n{verdict}; files in {self.base}\n")
        return summary.passed


def standbys_first(engine_ids: list[str], holder: str) -> list[str]:
    """The order to stop the engines in: every standby, then the holder (if any)."""
    return [e for e in engine_ids if e != holder] + [e for e in engine_ids if e == holder]


def wait_for_stop_signal() -> None:
    """Returns on SIGTERM or SIGINT (Ctrl-C), so that the caller stops the cluster it kept."""
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def main(
    orders: int = 300,
    ttl_ms: int = 500,
    rate: float = 40.0,
    keep_running: bool = False,
    out: TextIO = sys.stdout,
    on_ready: Callable[[Demo], None] | None = None,
) -> int:
    base = Path(tempfile.mkdtemp(prefix="coordinator-demo-"))
    demo = Demo(orders, ttl_ms, rate, base, out)
    passed = False
    try:
        passed = demo.run()
        if on_ready is not None:
            on_ready(demo)
        if keep_running:
            out.write(
                "\nthe cluster keeps running (Ctrl-C to stop it); try:\n  export "
                f"COORDINATOR_CLUSTER={','.join(demo.cluster.addresses())}\n  coordinator status\n"
            )
            out.flush()
            wait_for_stop_signal()
    except Exception as exc:
        out.write(f"\nthe demo failed: {exc}\nfiles in {base}\n")
        out.write(demo.cluster.log_tails(15) + "\n")
    finally:
        demo.close(keep_cluster=False)
    if passed:
        shutil.rmtree(base, ignore_errors=True)
    return 0 if passed else 1

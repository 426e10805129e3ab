"""One chaos run: real coordinator nodes behind a real Toxiproxy, competing engines, a seeded
fault schedule, then a liveness phase and the checker.

Phases (TigerBeetle's VOPR, Jepsen): faults while the workload runs; then heal everything and
wait, bounded, for the cluster to elect, grant and commit again; stop the workload; wait for
every node to converge (within CONVERGE_WITHIN_S of the heal); read every node's apply trace,
then its final state and stored log (in that order, so that every entry a trace shows applied
is in the logs read after it); judge the history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import random
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from chaos import checker, history
from chaos.faults import (
    ENGINE_TTL_S,
    FAULTS,
    EngineHandle,
    Step,
    World,
    cluster_timing,
    make_schedule,
)
from chaos.topology import ChaosCluster
from chaos.toxiproxy import ToxiproxyServer
from coordinator.client import CoordinatorClient, RetryPolicy
from coordinator.localcluster import wait_until
from coordinator.replication.settings import PRESETS
from coordinator.v1 import admin_pb2, admin_pb2_grpc, types_pb2
from coordinator.wire.rows import audit_row, order_row, position_row

ENGINES = ("eng-a", "eng-b")
# Nodes run with the LAN preset, written out in full so that a fault predicts from the numbers they
# run with.
TIMING: dict[str, int] = dict(PRESETS["lan"])
RECOVER_WITHIN_S = 30.0  # after the heal: a leader, a holder and new commits
CONVERGE_WITHIN_S = 30.0  # after the heal: every node at the same applied index and digest
SETTLE_S = 10.0  # the engines' lease (ttl 1 s) runs out and its Expire is applied everywhere
TRACE_FLUSH_S = 0.3  # nodes write their apply trace once per Raft tick
RISK_ORDER_QUANTITY_MAX, RISK_POSITION_MAX, RISK_OPEN_ORDERS_MAX = "5", "400", 200


@dataclass
class RunReport:
    scenario: str
    seed: int
    duration_s: float
    faults: list[dict[str, Any]] = field(default_factory=list)
    operations: dict[str, dict[str, int]] = field(default_factory=dict)
    takeovers: list[dict[str, Any]] = field(default_factory=list)
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)
    liveness: dict[str, Any] = field(default_factory=dict)
    directory: str = ""

    @property
    def passed(self) -> bool:
        return all(v["ok"] for v in self.verdicts.values())

    def summary(self) -> str:
        ops = sum(sum(c.values()) for c in self.operations.values())
        lines = [
            f"scenario {self.scenario} seed {self.seed}: {'PASS' if self.passed else 'FAIL'}",
            f"  operations {ops}: "
            + ", ".join(
                f"{op} " + "/".join(f"{k}={n}" for k, n in sorted(c.items()))
                for op, c in sorted(self.operations.items())
            ),
            f"  faults {len(self.faults)}: "
            + ", ".join(f"{f['fault']}{f.get('details') or ''}" for f in self.faults),
            f"  takeovers {len(self.takeovers)}: "
            + ", ".join(
                f"epoch {t['epoch']} {t['engine']}{' (resumed)' if t['resumed'] else ''}"
                + (f" {t['after_fault_ms']:.0f} ms after {t['fault']}" if t.get("fault") else "")
                for t in self.takeovers
            ),
        ]
        live = self.liveness
        lines.append(
            f"  liveness: recovered {live.get('recovered_s', '-')} s (bound {live.get('within_s')} "
            f"s), converged {live.get('converged_s', '-')} s (bound "
            f"{live.get('converge_within_s')} s) after the heal"
        )
        for name, verdict in self.verdicts.items():
            mark = "ok" if verdict["ok"] else "VIOLATED"
            lines.append(
                f"  [{mark}] {name} ({verdict['checked']} checked)"
                + (
                    "".join(f"\n      - {p}" for p in verdict["problems"])
                    if not verdict["ok"]
                    else ""
                )
            )
        return "\n".join(lines)


class Run:
    def __init__(
        self, scenario: str, seed: int, duration_s: float, base: Path, log: Callable[[str], None]
    ) -> None:
        self.scenario, self.seed, self.duration_s, self.base, self.log = (
            scenario,
            seed,
            duration_s,
            base,
            log,
        )
        self.schedule = make_schedule(scenario, seed, duration_s)
        self.timing = cluster_timing(TIMING, (step.fault for step in self.schedule))
        self.report = RunReport(scenario, seed, duration_s, directory=str(base))
        self.nemesis = history.HistoryWriter(base / "nemesis.history.jsonl", "nemesis")

    def execute(self) -> RunReport:
        with ToxiproxyServer(log_path=self.base / "toxiproxy.log") as server:
            toxi = server.client()
            chaos = ChaosCluster(self.base, toxi, ENGINES, timing=self.timing)
            engines = {
                e: EngineHandle(
                    e,
                    chaos.client_addresses[e],
                    self.base / f"{e}.history.jsonl",
                    self.base / f"{e}.log",
                    self.seed,
                    ttl_ms=int(ENGINE_TTL_S * 1000),
                )
                for e in ENGINES
            }
            world = World(
                chaos, toxi, engines, holder=lambda: self._holder(chaos), nemesis=self.nemesis
            )
            try:
                self._start(chaos, engines)
                for step in self.schedule:
                    self._inject(world, step)
                heal_started = time.time()
                toxi.reset()
                self.report.liveness = self._liveness(chaos, engines, heal_started)
                for engine in engines.values():
                    engine.stop()
                self._converge(chaos, heal_started)
                self._settle(chaos)
                traces = self._traces(chaos)
                finals = self._finals(chaos)
            finally:
                for engine in engines.values():
                    engine.stop()
                chaos.cluster.close()
                self.nemesis.close()
        events = history.read(sorted(self.base.glob("*.history.jsonl")))
        verdicts = checker.check(events, finals, self.report.liveness, traces)
        self.report.verdicts = {name: dataclasses.asdict(v) for name, v in verdicts.items()}
        self._summarize(events)
        (self.base / "report.json").write_text(
            json.dumps(dataclasses.asdict(self.report), indent=2) + "\n"
        )
        return self.report

    # ------------------------------------------------------------------------ phases

    def _start(self, chaos: ChaosCluster, engines: dict[str, EngineHandle]) -> None:
        chaos.cluster.start()
        chaos.cluster.wait_for_leader()
        limits = types_pb2.RiskLimits(
            order_quantity_max=RISK_ORDER_QUANTITY_MAX,
            position_max=RISK_POSITION_MAX,
            open_orders_max=RISK_OPEN_ORDERS_MAX,
        )
        chaos.cluster.call(
            "Admin",
            "SetRiskLimits",
            admin_pb2.SetRiskLimitsRequest(account="*", instrument="*", limits=limits),
        )
        for engine in engines.values():
            engine.start()
        wait_until(lambda: self._holder(chaos), 30, "an engine to hold the role")
        time.sleep(1.0)

    def _inject(self, world: World, step: Step) -> None:
        time.sleep(step.quiet_s)
        world.details = {}
        started = time.time()
        op_id = self.nemesis.invoke("fault", 0, step.fault, hold_s=step.hold_s)
        try:
            with FAULTS[step.fault](world, random.Random(step.seed)):
                self.nemesis.write(
                    history.INFO, "fault-start", op_id, key=step.fault, **world.details
                )
                time.sleep(step.hold_s)
        except Exception as exc:  # a fault that could not be injected is reported, not hidden
            self.nemesis.write(history.FAIL, "fault", op_id, key=step.fault, error=repr(exc))
            self.report.faults.append({"fault": step.fault, "error": repr(exc), "at": started})
            self.log(f"    fault {step.fault} failed: {exc!r}")
            return
        self.nemesis.write(history.OK, "fault", op_id, key=step.fault, **world.details)
        self.report.faults.append(
            {
                "fault": step.fault,
                "details": dict(world.details),
                "at": started,
                "held_s": round(time.time() - started, 2),
            }
        )
        self.log(f"    {step.fault} {world.details} held {time.time() - started:.1f}s")

    def _liveness(
        self, chaos: ChaosCluster, engines: dict[str, EngineHandle], healed_at: float
    ) -> dict[str, Any]:
        within_s = RECOVER_WITHIN_S
        result: dict[str, Any] = {"within_s": within_s, "converge_within_s": CONVERGE_WITHIN_S}
        deadline = time.monotonic() + within_s
        for engine in engines.values():
            if engine.paused:
                engine.signal(signal.SIGCONT)
            if not engine.running():
                engine.start()
        for node_id, node in chaos.cluster.nodes.items():
            if not node.running() and not node_id.startswith("dc4"):
                chaos.cluster.start_node(node_id)

        def remaining() -> float:
            return max(1.0, deadline - time.monotonic())

        try:
            chaos.cluster.wait_for_leader(remaining())
            result["leader_elected"] = True
            wait_until(lambda: self._holder(chaos), remaining(), "an engine to hold the role")
            result["engine_granted"] = True
            wait_until(
                lambda: self._oks_since(healed_at) > 5,
                remaining(),
                "writes after healing",
                interval_s=0.2,
            )
            result["writes_committed"] = True
            result["recovered_s"] = round(time.time() - healed_at, 2)
        except TimeoutError as exc:
            result["error"] = str(exc)
        return result

    def _converge(self, chaos: ChaosCluster, healed_at: float) -> None:
        """Waits for every running node to reach the same applied index and digest, until
        CONVERGE_WITHIN_S after the heal (at least a few seconds, so that a slow recovery is
        still measured, and then judged against the bound by the checker)."""
        wait_s = max(5.0, CONVERGE_WITHIN_S - (time.time() - healed_at))
        try:
            chaos.cluster.wait_converged(wait_s)
            self.report.liveness["converged"] = True
            self.report.liveness["converged_s"] = round(time.time() - healed_at, 2)
        except TimeoutError as exc:
            self.report.liveness["converged"] = False
            self.report.liveness["convergence_error"] = str(exc)

    def _settle(self, chaos: ChaosCluster) -> None:
        """With the engines stopped, the last holder's lease still runs: when it ends, the
        leader commits an Expire. Reading the final states while that entry is applied on some
        nodes and not yet on others made them look diverged. Wait for the role to be free and
        the nodes equal again (bounded; a real divergence still fails the checker)."""
        deadline = time.monotonic() + SETTLE_S
        while self._holder(chaos) and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.report.liveness.get("converged"):
            with contextlib.suppress(TimeoutError):
                chaos.cluster.wait_converged(max(1.0, deadline - time.monotonic()))

    def _traces(self, chaos: ChaosCluster) -> dict[str, list[checker.TraceRow]]:
        """Every node's apply trace (the joiner's too, though it was stopped); a node that
        never wrote one has no rows."""
        time.sleep(TRACE_FLUSH_S)
        return {
            node_id: checker.parse_trace(path.read_text())
            if (path := chaos.trace_path(node_id)).exists()
            else []
            for node_id in chaos.nodes
        }

    def _finals(self, chaos: ChaosCluster) -> dict[str, checker.NodeFinal]:
        cluster = chaos.cluster
        finals = {}
        for node_id, node in cluster.nodes.items():
            if not node.running():
                continue
            client = CoordinatorClient([node.grpc_address], retry=RetryPolicy(budget_ms=10_000))
            status = cluster.status(node_id, timeout_s=5)
            stub = admin_pb2_grpc.AdminStub(cluster.channel(node_id))  # type: ignore[no-untyped-call]
            log = [
                audit_row(e)
                for batch in stub.ExportAudit(admin_pb2.ExportAuditRequest(), timeout=60)
                for e in batch.entries
            ]
            finals[node_id] = checker.NodeFinal(
                node_id,
                status.applied_index,
                status.digest,
                [order_row(o) for o in client.orders(stale=True)],
                [position_row(p) for p in client.positions(stale=True)],
                log,
            )
            client.close()
        return finals

    # ------------------------------------------------------------------------ helpers

    def _holder(self, chaos: ChaosCluster) -> str:
        for node_id, node in chaos.cluster.nodes.items():
            if node.running():
                try:
                    status = chaos.cluster.status(node_id, timeout_s=0.5)
                except grpc.RpcError:
                    continue
                if status.role == admin_pb2.LEADER:
                    return str(status.holder_id)
        return ""

    def _oks_since(self, since: float) -> int:
        events = history.read(sorted(self.base.glob("eng-*.history.jsonl")))
        return sum(
            1
            for e in events
            if e.type == history.OK
            and e.time > since
            and e.op in ("submit", "update", "cancel", "fill")
        )

    def _summarize(self, events: list[history.Event]) -> None:
        operations: dict[str, Counter[str]] = {}
        for event in events:
            if (
                event.process != "nemesis"
                and event.type != history.INVOKE
                and event.op in ("submit", "update", "cancel", "fill")
            ):
                operations.setdefault(event.op, Counter())[event.type] += 1
        self.report.operations = {op: dict(c) for op, c in operations.items()}
        starts = [(f["at"], f["fault"]) for f in self.report.faults]
        for event in events:
            if event.type == history.OK and event.op == "elected":
                before = [s for s in starts if s[0] <= event.time]
                takeover: dict[str, Any] = {
                    "epoch": event.epoch,
                    "engine": event.process,
                    "resumed": event.value.get("resumed", False),
                }
                if before:
                    at, name = before[-1]
                    takeover.update(fault=name, after_fault_ms=round((event.time - at) * 1000, 1))
                self.report.takeovers.append(takeover)


def run_one(
    scenario: str,
    seed: int,
    duration_s: float,
    out: Path | None,
    log: Callable[[str], None] = print,
    keep: bool = False,
) -> RunReport:
    base = Path(tempfile.mkdtemp(prefix=f"chaos-{scenario}-{seed}-", dir=out))
    log(f"SEED={seed}")
    log(f"  scenario {scenario}, {duration_s:.0f} s, files in {base}")
    try:
        report = Run(scenario, seed, duration_s, base, log).execute()
    except BaseException:
        log_tails(base, log)
        raise
    log(report.summary())
    if not report.passed:
        log_tails(base, log)
    elif not keep:
        # keep histories and the report, drop the data
        shutil.rmtree(base / "cluster", ignore_errors=True)
    return report


def log_tails(base: Path, log: Callable[[str], None], lines: int = 40) -> None:
    """The end of every node's and engine's log, so a failure far away (CI) can be read."""
    for path in sorted(base.glob("cluster/*/node.log")) + sorted(base.glob("eng-*.log")):
        tail = path.read_text(errors="replace").splitlines()[-lines:]
        log(f"---- last {len(tail)} lines of {path.relative_to(base)}\n" + "\n".join(tail))


SCENARIOS = sorted(FAULTS)


def run_all(
    seed: int, duration_s: float, out: Path | None, log: Callable[[str], None] = print
) -> list[RunReport]:
    return [run_one(name, seed, duration_s, out, log) for name in SCENARIOS]

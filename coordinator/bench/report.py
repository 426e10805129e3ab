"""What `coordinator bench` shows and writes: a progress line per run on stderr, the medians of
the rounds, the coordinator/etcd ratios, the final table and the JSON report.

Pure over the results, except `Progress`, which only writes to the stream it was given. The
ratios are taken per round (each coordinator run against the etcd run of the same round, which
ran right after it) and their median reported, so that the machine's drift between rounds
cancels out of them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TextIO

from coordinator.bench.load import LoadRecord, Tally

COORDINATOR = "coordinator"
ETCD = "etcd"
ETCD_PUT = "put"
LOAD_GENERATOR = "load_generator"


@dataclass(frozen=True)
class RunPlan:
    """Which run: a system and its mode (coordinator unary or stream, etcd put), the load shape
    and the round (from 1)."""

    system: str
    mode: str
    clients: int
    in_flight: int
    round: int

    def label(self) -> str:
        return (
            f"round {self.round} {self.system} {self.mode} clients {self.clients} "
            f"in-flight {self.in_flight}"
        )


@dataclass(frozen=True)
class RunResult:
    """One measured run: what the driver measured, the leader it was aimed at, and each
    process's CPU µs per committed order (node ids or etcd member names, and `LOAD_GENERATOR`)."""

    plan: RunPlan
    record: LoadRecord
    leader: str
    cpu_us_per_order: Mapping[str, float | None]

    @property
    def leader_cpu_us_per_order(self) -> float | None:
        return self.cpu_us_per_order.get(self.leader)

    def as_json(self) -> dict[str, Any]:
        record = self.record
        return {
            **asdict(self.plan),
            "seconds": record.seconds,
            "committed": record.committed,
            "orders_per_s": record.orders_per_s,
            **{f"latency_ms_{name}": value for name, value in asdict(record.latency_ms).items()},
            "errors": {"count": record.errors, "first": list(record.error_texts)},
            "leader": self.leader,
            "cpu_us_per_order": dict(self.cpu_us_per_order),
        }


@dataclass(frozen=True)
class Summary:
    """The runs of one (system, mode, clients, in_flight) over the rounds: medians, except the
    range of orders/s, the largest latency and the total of errors."""

    system: str
    mode: str
    clients: int
    in_flight: int
    rounds: int
    orders_per_s: float
    orders_per_s_range: tuple[float, float]
    latency_ms_p50: float
    latency_ms_p90: float
    latency_ms_p99: float
    latency_ms_p999: float
    latency_ms_max: float
    leader_cpu_us_per_order: float | None
    errors: int


@dataclass(frozen=True)
class Ratios:
    """Coordinator over etcd at one (mode, clients, in_flight), the median of the per-round
    ratios: throughput above 1 and latency below 1 favour the coordinator."""

    mode: str
    clients: int
    in_flight: int
    throughput: float
    latency_p50: float
    latency_p99: float


def median(values: Iterable[float]) -> float:
    """The median of the values that are numbers; NaN when there are none."""
    found = [v for v in values if not math.isnan(v)]
    return statistics.median(found) if found else math.nan


def summarize(results: Sequence[RunResult]) -> list[Summary]:
    """One Summary per (system, mode, clients, in_flight), in the order first run."""
    groups: dict[tuple[str, str, int, int], list[RunResult]] = {}
    for r in results:
        p = r.plan
        groups.setdefault((p.system, p.mode, p.clients, p.in_flight), []).append(r)
    summaries = []
    for (system, mode, clients, in_flight), runs in groups.items():
        records = [r.record for r in runs]
        cpu = [r.leader_cpu_us_per_order for r in runs if r.leader_cpu_us_per_order is not None]
        summaries.append(
            Summary(
                system=system,
                mode=mode,
                clients=clients,
                in_flight=in_flight,
                rounds=len(runs),
                orders_per_s=median(x.orders_per_s for x in records),
                orders_per_s_range=(
                    min(x.orders_per_s for x in records),
                    max(x.orders_per_s for x in records),
                ),
                latency_ms_p50=median(x.latency_ms.p50 for x in records),
                latency_ms_p90=median(x.latency_ms.p90 for x in records),
                latency_ms_p99=median(x.latency_ms.p99 for x in records),
                latency_ms_p999=median(x.latency_ms.p999 for x in records),
                latency_ms_max=max((x.latency_ms.max for x in records), default=math.nan),
                leader_cpu_us_per_order=round(statistics.median(cpu), 1) if cpu else None,
                errors=sum(x.errors for x in records),
            )
        )
    return summaries


def quotient(numerator: float, denominator: float) -> float:
    """numerator / denominator, NaN when either is not a positive number."""
    if not numerator > 0 or not denominator > 0:
        return math.nan
    return numerator / denominator


def ratios(results: Sequence[RunResult]) -> list[Ratios]:
    """For each coordinator (mode, clients, in_flight) that has etcd put runs at the same
    (clients, in_flight) in the same rounds: the median per-round ratios, rounded to 0.01."""
    etcd = {
        (r.plan.clients, r.plan.in_flight, r.plan.round): r.record
        for r in results
        if r.plan.system == ETCD
    }
    paired: dict[tuple[str, int, int], list[tuple[LoadRecord, LoadRecord]]] = {}
    for r in results:
        p = r.plan
        if p.system == COORDINATOR and (put := etcd.get((p.clients, p.in_flight, p.round))):
            paired.setdefault((p.mode, p.clients, p.in_flight), []).append((r.record, put))
    return [
        Ratios(
            mode,
            clients,
            in_flight,
            throughput=round(median(quotient(c.orders_per_s, e.orders_per_s) for c, e in pairs), 2),
            latency_p50=round(
                median(quotient(c.latency_ms.p50, e.latency_ms.p50) for c, e in pairs), 2
            ),
            latency_p99=round(
                median(quotient(c.latency_ms.p99, e.latency_ms.p99) for c, e in pairs), 2
            ),
        )
        for (mode, clients, in_flight), pairs in paired.items()
    ]


# ----------------------------------------------------------------------------- rendering


def number(value: float | None, decimals: int = 2) -> str:
    """A table cell: thousands separated, '-' for no value."""
    if value is None or math.isnan(value):
        return "-"
    return f"{value:,.{decimals}f}"


def aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns right-aligned under their headers, the first one left-aligned, two spaces apart."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def table(summaries: Sequence[Summary], ratio_rows: Sequence[Ratios]) -> str:
    """The final table: one line per coordinator (mode, clients, in_flight), and with etcd runs
    the etcd put at the same clients and in-flight beside it, with the ratios."""
    etcd = {(s.clients, s.in_flight): s for s in summaries if s.system == ETCD}
    by_key = {(r.mode, r.clients, r.in_flight): r for r in ratio_rows}
    headers = ["mode", "clients", "in-flight", "orders/s", "p50 ms", "p99 ms", "p999 ms",
               "leader µs/order"]  # fmt: skip
    if etcd:
        headers += [
            "etcd puts/s", "etcd p50", "etcd p99", "leader µs/put",
            "thr ratio", "p50 ratio", "p99 ratio",
        ]  # fmt: skip
    rows = []
    for s in summaries:
        if s.system != COORDINATOR:
            continue
        row = [s.mode, str(s.clients), str(s.in_flight), number(s.orders_per_s, 0),
               number(s.latency_ms_p50), number(s.latency_ms_p99), number(s.latency_ms_p999),
               number(s.leader_cpu_us_per_order, 0)]  # fmt: skip
        if etcd:
            put = etcd.get((s.clients, s.in_flight))
            ratio = by_key.get((s.mode, s.clients, s.in_flight))
            row += [
                number(put.orders_per_s, 0) if put else "-",
                number(put.latency_ms_p50) if put else "-",
                number(put.latency_ms_p99) if put else "-",
                number(put.leader_cpu_us_per_order, 0) if put else "-",
                number(ratio.throughput) if ratio else "-",
                number(ratio.latency_p50) if ratio else "-",
                number(ratio.latency_p99) if ratio else "-",
            ]
        rows.append(row)
    return aligned(headers, rows)


def report_json(
    settings: Mapping[str, Any],
    results: Sequence[RunResult],
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON report: the settings, every run, the medians and the ratios (and `extra`, say
    the truncation comparison). A figure that could not be computed (a percentile of nothing,
    a ratio to nothing) is null, since JSON has no NaN."""
    report: dict[str, Any] = without_nan(
        {
            "settings": dict(settings),
            "runs": [r.as_json() for r in results],
            "summary": [asdict(s) for s in summarize(results)],
            "ratios": [asdict(r) for r in ratios(results)],
            **(extra or {}),
        }
    )
    return report


def without_nan(value: Any) -> Any:
    """`value` with every NaN float, however deep in dicts, lists and tuples, replaced by None."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: without_nan(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [without_nan(v) for v in value]
    return value


# ------------------------------------------------------------------------------ progress


class Progress:
    """One line per run on `stream`: on a terminal rewritten in place (`\\r`) while the run goes
    on and left with its result; elsewhere (a log, a pipe) written once, when it ends."""

    def __init__(self, stream: TextIO, total_runs: int) -> None:
        self.stream = stream
        self.total_runs = total_runs
        self.done = 0
        self.live = stream.isatty()

    def _prefix(self, plan: RunPlan) -> str:
        return f"[{self.done + 1}/{self.total_runs}] {plan.label()}"

    def running(self, plan: RunPlan, elapsed_s: float, duration_s: float, tally: Tally) -> None:
        """Rewrites the current run's line (terminals only)."""
        if self.live:
            self.stream.write(
                f"\r{self._prefix(plan)}: {min(elapsed_s, duration_s):.1f}/{duration_s:.1f} s, "
                f"{tally.committed:,} committed, {tally.errors} errors\x1b[K"
            )
            self.stream.flush()

    def finished(self, result: RunResult) -> None:
        """Leaves the run's result on its line."""
        r = result.record
        text = (
            f"{self._prefix(result.plan)}: {number(r.orders_per_s, 0)}/s, "
            f"p50 {number(r.latency_ms.p50)} ms, p99 {number(r.latency_ms.p99)} ms, "
            f"errors {r.errors}, leader {result.leader} "
            f"{number(result.leader_cpu_us_per_order, 0)} µs/order"
        )
        if r.error_texts:
            text += f" (first: {r.error_texts[0]})"
        self.note(text)
        self.done += 1

    def note(self, text: str) -> None:
        """A line of its own (a run's result, starting a cluster, a warm-up)."""
        self.stream.write(f"\r{text}\x1b[K\n" if self.live else text + "\n")
        self.stream.flush()

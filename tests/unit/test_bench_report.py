"""What `coordinator bench` reports (coordinator/bench/report.py): medians over rounds, the
coordinator/etcd ratios taken per round, the final table, JSON without NaN, and the progress
line on a terminal and in a log."""

from __future__ import annotations

import io
import json
import math

from coordinator.bench.load import Latency, LoadRecord, Tally
from coordinator.bench.report import (
    Progress,
    Ratios,
    RunPlan,
    RunResult,
    ratios,
    report_json,
    summarize,
    table,
)


def run(
    system: str,
    mode: str,
    round_: int,
    orders_per_s: float,
    p50: float,
    p99: float,
    *,
    clients: int = 32,
    errors: int = 0,
    leader_cpu: float | None = 900.0,
) -> RunResult:
    leader = "dc1" if system == "coordinator" else "e2"
    follower = "dc2" if system == "coordinator" else "e1"
    return RunResult(
        RunPlan(system, mode, clients, 1, round_),
        LoadRecord(
            seconds=3.0,
            committed=int(orders_per_s * 3),
            errors=errors,
            error_texts=("UNAVAILABLE: no leader",) if errors else (),
            latency_ms=Latency(p50, p50 * 1.5, p99, p99 * 2, p99 * 3),
            orders_per_s=orders_per_s,
        ),
        leader,
        {leader: leader_cpu, follower: 250.0, "load_generator": 350.0},
    )


RESULTS = [
    run("coordinator", "unary", 1, 900.0, 30.0, 60.0),
    run("coordinator", "stream", 1, 1800.0, 15.0, 40.0),
    run("etcd", "put", 1, 2400.0, 10.0, 30.0, leader_cpu=450.0),
    run("coordinator", "unary", 2, 1000.0, 28.0, 70.0, errors=2),
    run("coordinator", "stream", 2, 1600.0, 18.0, 50.0),
    run("etcd", "put", 2, 2000.0, 14.0, 28.0, leader_cpu=470.0),
    run("coordinator", "unary", 3, 800.0, 32.0, 90.0),
    run("coordinator", "stream", 3, 2000.0, 16.0, 45.0),
    run("etcd", "put", 3, 2500.0, 12.0, 35.0, leader_cpu=430.0),
]


def test_the_summary_is_the_median_of_the_rounds() -> None:
    unary, stream, put = summarize(RESULTS)
    assert (unary.system, unary.mode, unary.rounds) == ("coordinator", "unary", 3)
    assert unary.orders_per_s == 900.0 and unary.orders_per_s_range == (800.0, 1000.0)
    assert (unary.latency_ms_p50, unary.latency_ms_p99, unary.latency_ms_p999) == (30, 70, 140)
    assert unary.latency_ms_max == 270.0  # the largest of every round, not a median
    assert unary.errors == 2 and unary.leader_cpu_us_per_order == 900.0
    assert (stream.orders_per_s, put.orders_per_s, put.leader_cpu_us_per_order) == (
        1800.0,
        2400.0,
        450.0,
    )


def test_ratios_are_taken_per_round_then_their_median() -> None:
    unary, stream = ratios(RESULTS)
    # per round 900/2400, 1000/2000, 800/2500 -> 0.375, 0.5, 0.32: median 0.375, which the
    # ratio of the medians (900/2400) happens to equal; p50: 3.0, 2.0, 2.67 -> 2.67, not 30/12
    assert unary == Ratios("unary", 32, 1, throughput=0.38, latency_p50=2.67, latency_p99=2.5)
    assert stream == Ratios("stream", 32, 1, throughput=0.8, latency_p50=1.33, latency_p99=1.33)


def test_no_etcd_runs_means_no_ratios() -> None:
    assert ratios([r for r in RESULTS if r.plan.system == "coordinator"]) == []


def test_the_table_puts_the_etcd_put_beside_each_coordinator_mode_with_the_ratios() -> None:
    lines = table(summarize(RESULTS), ratios(RESULTS)).splitlines()
    assert lines[0].split("  ")[0] == "mode"
    assert [line.split() for line in lines[1:]] == [
        ["unary", "32", "1", "900", "30.00", "70.00", "140.00", "900", "2,400", "12.00",
         "30.00", "450", "0.38", "2.67", "2.50"],
        ["stream", "32", "1", "1,800", "16.00", "45.00", "90.00", "900", "2,400", "12.00",
         "30.00", "450", "0.80", "1.33", "1.33"],
    ]  # fmt: skip
    headers = lines[0]
    for header in ("orders/s", "p999 ms", "leader µs/order", "etcd puts/s", "thr ratio"):
        assert header in headers
    # columns line up: every cell of a row ends where its header ends
    assert len({len(line) for line in lines}) == 1


def test_the_table_without_etcd_has_only_the_coordinator_columns() -> None:
    coordinator = [r for r in RESULTS if r.plan.system == "coordinator"]
    lines = table(summarize(coordinator), []).splitlines()
    assert lines[0].split() == [
        "mode", "clients", "in-flight", "orders/s", "p50", "ms", "p99", "ms", "p999", "ms",
        "leader", "µs/order",
    ]  # fmt: skip
    assert lines[1].split()[:4] == ["unary", "32", "1", "900"]


def test_a_run_with_nothing_committed_shows_dashes_and_null_in_json() -> None:
    broken = RunResult(
        RunPlan("coordinator", "stream", 2, 2, 1),
        LoadRecord(3.0, 0, 400, ("UNIMPLEMENTED: Method not implemented!",),
                   Latency(math.nan, math.nan, math.nan, math.nan, math.nan), 0.0),
        "dc1",
        {"dc1": None, "load_generator": None},
    )  # fmt: skip
    put = run("etcd", "put", 1, 1000.0, 2.0, 5.0, clients=2)
    put = RunResult(RunPlan("etcd", "put", 2, 2, 1), put.record, put.leader, put.cpu_us_per_order)
    row = table(summarize([broken, put]), ratios([broken, put])).splitlines()[1].split()
    assert row == ["stream", "2", "2", "0", "-", "-", "-", "-", "1,000", "2.00", "5.00", "900",
                   "-", "-", "-"]  # fmt: skip
    report = report_json({"modes": ["stream"]}, [broken, put])
    text = json.dumps(report, allow_nan=False)  # raises on a NaN left behind
    (first,) = [r for r in json.loads(text)["runs"] if r["system"] == "coordinator"]
    assert first["latency_ms_p50"] is None
    assert first["errors"] == {"count": 400, "first": ["UNIMPLEMENTED: Method not implemented!"]}
    assert json.loads(text)["ratios"][0]["throughput"] is None


def test_each_run_in_the_json_has_the_documented_keys() -> None:
    report = report_json({"rounds": 3}, RESULTS, {"acked_entries_truncated": {"dc1": 0}})
    assert set(report) == {"settings", "runs", "summary", "ratios", "acked_entries_truncated"}
    assert report["runs"][0] == {
        "system": "coordinator",
        "mode": "unary",
        "clients": 32,
        "in_flight": 1,
        "round": 1,
        "seconds": 3.0,
        "committed": 2700,
        "orders_per_s": 900.0,
        "latency_ms_p50": 30.0,
        "latency_ms_p90": 45.0,
        "latency_ms_p99": 60.0,
        "latency_ms_p999": 120.0,
        "latency_ms_max": 180.0,
        "errors": {"count": 0, "first": []},
        "leader": "dc1",
        "cpu_us_per_order": {"dc1": 900.0, "dc2": 250.0, "load_generator": 350.0},
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_in_a_log_is_one_plain_line_per_run() -> None:
    log = io.StringIO()
    progress = Progress(log, total_runs=9)
    progress.running(RESULTS[0].plan, 1.0, 3.0, Tally(committed=5))  # nothing on a log
    progress.finished(RESULTS[0])
    progress.finished(RESULTS[3])
    assert log.getvalue().splitlines() == [
        "[1/9] round 1 coordinator unary clients 32 in-flight 1: 900/s, p50 30.00 ms, "
        "p99 60.00 ms, errors 0, leader dc1 900 µs/order",
        "[2/9] round 2 coordinator unary clients 32 in-flight 1: 1,000/s, p50 28.00 ms, "
        "p99 70.00 ms, errors 2, leader dc1 900 µs/order (first: UNAVAILABLE: no leader)",
    ]
    assert "\r" not in log.getvalue()


def test_progress_on_a_terminal_rewrites_the_run_line_in_place() -> None:
    terminal = Terminal()
    progress = Progress(terminal, total_runs=9)
    progress.running(RESULTS[0].plan, 1.5, 3.0, Tally(committed=1234, errors=1))
    progress.finished(RESULTS[0])
    assert terminal.getvalue() == (
        "\r[1/9] round 1 coordinator unary clients 32 in-flight 1: 1.5/3.0 s, 1,234 committed, "
        "1 errors\x1b[K"
        "\r[1/9] round 1 coordinator unary clients 32 in-flight 1: 900/s, p50 30.00 ms, "
        "p99 60.00 ms, errors 0, leader dc1 900 µs/order\x1b[K\n"
    )

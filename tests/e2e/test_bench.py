"""`coordinator bench` run as a person runs it, against the real local cluster it starts: both
order paths commit orders with no error, and the JSON report holds every documented figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

RUN_KEYS = {
    "system", "mode", "clients", "in_flight", "round", "seconds", "committed", "orders_per_s",
    "latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "latency_ms_p999", "latency_ms_max",
    "errors", "leader", "cpu_us_per_order",
}  # fmt: skip


def test_bench_measures_both_order_paths_and_writes_the_report(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "coordinator", "bench", "--mode", "unary,stream", "--clients",
         "2", "--in-flight", "2", "--duration", "1", "--rounds", "1", "--json", str(report_path)],
        capture_output=True,
        text=True,
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
    report = json.loads(report_path.read_text())
    assert set(report) >= {"settings", "runs", "summary", "ratios"}
    assert report["settings"]["modes"] == ["unary", "stream"]
    runs = {run["mode"]: run for run in report["runs"]}
    assert list(runs) == ["unary", "stream"], report["runs"]
    for mode, run in runs.items():
        assert set(run) == RUN_KEYS, mode
        assert run["committed"] > 0 and run["orders_per_s"] > 0, run
        assert run["errors"] == {"count": 0, "first": []}, run
        assert 0 < run["latency_ms_p50"] <= run["latency_ms_p99"] <= run["latency_ms_max"], run
        assert set(run["cpu_us_per_order"]) == {"dc1", "dc2", "dc3", "load_generator"}, run
        assert run["leader"] in {"dc1", "dc2", "dc3"}
        assert run["cpu_us_per_order"][run["leader"]] > 0, run
    assert report["ratios"] == []  # no etcd asked for
    table = result.stdout.splitlines()
    assert any(line.split()[:3] == ["unary", "2", "2"] for line in table), result.stdout
    assert any(line.split()[:3] == ["stream", "2", "2"] for line in table), result.stdout
    # progress is on stderr, one plain line per run when stderr is not a terminal
    assert "[1/2] round 1 coordinator unary clients 2 in-flight 2:" in result.stderr
    assert "[2/2] round 1 coordinator stream clients 2 in-flight 2:" in result.stderr

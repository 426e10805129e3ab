"""A short chaos pass: every fault kind, against real node processes through a real Toxiproxy
server, judged by the checker. Fails on any violation, and fails (never skips) if Toxiproxy
cannot be started. The soak (scripts/soak) runs the same scenarios for as long as asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.runner import SCENARIOS, run_one

pytestmark = pytest.mark.chaos
MAJORITY_ENTRIES_MIN = 1000  # several 64 KiB AppendEntries batches past a stranded leader


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_invariant_holds_under(scenario: str, tmp_path: Path) -> None:
    seed = 1000 + SCENARIOS.index(scenario)
    report = run_one(scenario, seed, duration_s=3.0, out=tmp_path, log=print)
    assert report.faults, "no fault was injected"
    assert all("error" not in fault for fault in report.faults), report.faults
    assert sum(sum(c.values()) for c in report.operations.values()) > 20, report.operations
    # a divergence that did not happen would pass without testing anything
    for fault in report.faults:
        details = fault["details"]
        if "stranded_tail" in details:
            assert (
                details["stranded_tail"] > 0 and details["majority_entries"] >= MAJORITY_ENTRIES_MIN
            ), details
    assert report.passed, report.summary()

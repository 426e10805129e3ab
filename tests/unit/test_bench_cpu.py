"""CPU per order (coordinator/bench/cpu.py): utime + stime from /proc/<pid>/stat, whatever the
command name holds, and the per-order division between two snapshots."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from coordinator.bench.cpu import (
    CLOCK_TICKS_PER_S,
    cpu_snapshot,
    cpu_ticks,
    cpu_us_per_order,
    process_cpu_us,
)

# proc(5): pid (comm) state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
# utime stime cutime cstime ...
STAT = (
    "4242 ({comm}) S 1 4242 4242 0 -1 4194560 9000 0 12 0 {utime} {stime} 77 88 20 0 9 0 "
    "1234 456789 1000 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 0 0 0 0 0"
)


@pytest.mark.parametrize("comm", ["python", "etcd", "my (odd) name", "a) S 1 2 3", ""])
def test_utime_and_stime_are_read_after_the_last_parenthesis(comm: str) -> None:
    line = STAT.format(comm=comm, utime=1500, stime=250)
    assert cpu_ticks(line) == 1750  # children's 77 and 88 are not counted


def test_a_line_that_is_not_a_stat_line_is_refused() -> None:
    with pytest.raises(ValueError, match="not a /proc/<pid>/stat line"):
        cpu_ticks("4242 python S 1")
    with pytest.raises(ValueError, match="not a /proc/<pid>/stat line"):
        cpu_ticks("4242 (python) S 1 2 3")


def test_process_cpu_is_read_from_the_proc_directory_in_microseconds(tmp_path: Path) -> None:
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text(STAT.format(comm="node", utime=300, stime=100) + "\n")
    assert process_cpu_us(4242, tmp_path) == 400 * 1_000_000 // CLOCK_TICKS_PER_S
    assert process_cpu_us(4243, tmp_path) is None  # exited
    assert cpu_snapshot({"dc1": 4242, "dc2": 4243}, tmp_path) == {
        "dc1": 400 * 1_000_000 // CLOCK_TICKS_PER_S,
        "dc2": None,
    }


def test_this_process_cpu_grows_while_it_computes() -> None:
    before = process_cpu_us(os.getpid())
    deadline = time.process_time() + 0.1
    while time.process_time() < deadline:
        pass
    after = process_cpu_us(os.getpid())
    assert before is not None and after is not None
    assert after - before >= 50_000


def test_cpu_per_order_divides_each_process_delta_by_the_committed_orders() -> None:
    before = {"dc1": 1_000_000, "dc2": 500_000, "dc3": None, "load_generator": 0}
    after = {"dc1": 2_000_000, "dc2": 750_000, "dc3": 100, "load_generator": 300_000}
    assert cpu_us_per_order(before, after, 1000) == {
        "dc1": 1000.0,
        "dc2": 250.0,
        "dc3": None,
        "load_generator": 300.0,
    }


def test_cpu_per_order_is_none_when_nothing_committed() -> None:
    assert cpu_us_per_order({"dc1": 1}, {"dc1": 2}, 0) == {"dc1": None}

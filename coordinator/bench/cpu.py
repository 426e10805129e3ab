"""CPU time of the processes a run involves (every node, every etcd member, the load generator),
read from /proc/<pid>/stat around the measured window, and turned into CPU µs per order.

The kernel counts user and system time of all of a process's threads in clock ticks (usually
10 ms), so a window must hold many ticks for the figure to mean anything: at 1,000 orders/s
over 3 s one tick is 3 µs per order. Time of reaped children (cutime, cstime) is not counted;
the processes measured here fork none on the order path.

Reading only: this module never signals or starts a process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
# utime and stime are fields 14 and 15 of /proc/<pid>/stat (proc(5)); after the command name,
# which ends at the last ')', the fields resume at 3 (state).
_UTIME_AFTER_COMM = 14 - 3
_STIME_AFTER_COMM = 15 - 3


def cpu_ticks(stat_line: str) -> int:
    """utime + stime of one /proc/<pid>/stat line, in clock ticks. The command name is skipped
    by its last ')', since it may hold spaces and parentheses itself. Raises ValueError on a
    line that is not a stat line."""
    _, paren, rest = stat_line.rpartition(")")
    fields = rest.split()
    if not paren or len(fields) <= _STIME_AFTER_COMM:
        raise ValueError(f"not a /proc/<pid>/stat line: {stat_line[:80]!r}")
    return int(fields[_UTIME_AFTER_COMM]) + int(fields[_STIME_AFTER_COMM])


def process_cpu_us(pid: int, proc: Path = Path("/proc")) -> int | None:
    """CPU time process `pid` has used so far, in µs; None when it no longer exists."""
    try:
        line = (proc / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return cpu_ticks(line) * 1_000_000 // CLOCK_TICKS_PER_S


def cpu_snapshot(pids: Mapping[str, int], proc: Path = Path("/proc")) -> dict[str, int | None]:
    """`process_cpu_us` of each labelled process (a node id, an etcd member, "load_generator")."""
    return {label: process_cpu_us(pid, proc) for label, pid in pids.items()}


def cpu_us_per_order(
    before: Mapping[str, int | None], after: Mapping[str, int | None], orders: int
) -> dict[str, float | None]:
    """CPU µs each labelled process spent per order between two snapshots, rounded to 0.1 µs.
    None for a process missing from either snapshot (it exited, or was not running) and for
    every process when no order committed."""
    per_order: dict[str, float | None] = {}
    for label, start in before.items():
        end = after.get(label)
        if start is None or end is None or orders <= 0:
            per_order[label] = None
        else:
            per_order[label] = round((end - start) / orders, 1)
    return per_order

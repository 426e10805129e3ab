"""Test instruments a node carries but never uses unless asked: an apply trace and failpoints.

Both are off unless an environment variable names their file, so production nodes pay one
`is None` check per applied entry and nothing else. The chaos suite turns them on to see what
no status call can show (which entries each node applied, in order, including entries a later
snapshot hid) and to make a healthy machine behave like a sick one (a slow disk).

- `COORDINATOR_APPLY_TRACE=<path>`: the node appends `R <pid>` when it starts, `S <index> <term>`
  when it installs a snapshot (the last entry the snapshot covers), and `A <index> <term>` for
  every entry it applies. Lines are buffered and written once per Raft tick, so a killed node's
  file is a prefix of what it did.
- `COORDINATOR_FAILPOINTS=<path>`: a JSON object re-read every `poll()` (the node's main loop
  calls it every 0.2 s). `fsync_delay_ms` makes every Raft log sync sleep that long first;
  `tick_stall_ms` stalls the Raft tick thread once, each time `tick_stall_id` changes.

In both paths the literal `{node_id}` is replaced by the node's id.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TextIO

log = logging.getLogger(__name__)
TRACE_ENV = "COORDINATOR_APPLY_TRACE"
FAILPOINTS_ENV = "COORDINATOR_FAILPOINTS"


def _path_from_env(variable: str, node_id: str) -> Path | None:
    template = os.environ.get(variable)
    return Path(template.replace("{node_id}", node_id)) if template else None


class ApplyTrace:
    """What this node applied, in order. Written by the Raft tick thread only."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO = open(path, "a")  # noqa: SIM115 (closed by close())
        self._pending: list[str] = [f"R {os.getpid()}\n"]

    @classmethod
    def from_env(cls, node_id: str) -> ApplyTrace | None:
        path = _path_from_env(TRACE_ENV, node_id)
        return cls(path) if path is not None else None

    def applied(self, index: int, term: int) -> None:
        self._pending.append(f"A {index} {term}\n")

    def installed(self, index: int, term: int) -> None:
        self._pending.append(f"S {index} {term}\n")

    def flush(self) -> None:
        if self._pending:
            self._file.write("".join(self._pending))
            self._file.flush()
            self._pending = []

    def close(self) -> None:
        self.flush()
        self._file.close()


class Failpoints:
    """The failpoint file of one node, polled by its main loop."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.fsync_delay_s = 0.0
        self._stall_id: object = None
        self._stall_due: tuple[int, float] | None = None

    def take_stall(self) -> tuple[int, float] | None:
        """(when, as time.time_ns, and for how many seconds) the Raft tick thread must stall
        once, as a snapshot of a large state holds it, or None: `tick_stall_ms` from
        `tick_stall_at_ns` (so that every node stalls at the same moment), armed each time
        `tick_stall_id` changes."""
        due, self._stall_due = self._stall_due, None
        return due

    @classmethod
    def from_env(cls, node_id: str) -> Failpoints | None:
        path = _path_from_env(FAILPOINTS_ENV, node_id)
        return cls(path) if path is not None else None

    def poll(self) -> None:
        try:
            settings = json.loads(self._path.read_text()) if self._path.exists() else {}
            delay_s = float(settings.get("fsync_delay_ms", 0)) / 1000
            stall_s = float(settings.get("tick_stall_ms", 0)) / 1000
            stall_at_ns = int(settings.get("tick_stall_at_ns", 0))
            stall_id = settings.get("tick_stall_id")
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning(
                "failpoint file %s is unreadable (%s); keeping the previous settings",
                self._path,
                exc,
            )
            return
        if delay_s != self.fsync_delay_s:
            log.warning("failpoint: every Raft log sync now sleeps %.0f ms first", delay_s * 1000)
            self.fsync_delay_s = delay_s
        if stall_id != self._stall_id:
            self._stall_id = stall_id
            if stall_id is not None and stall_s > 0:
                log.warning("failpoint: the Raft tick thread stalls %.0f ms once", stall_s * 1000)
                self._stall_due = (stall_at_ns, stall_s)

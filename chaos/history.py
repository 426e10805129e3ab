"""The history of a chaos run: every operation as `invoke`, then `ok`, `fail` or `info`.

Jepsen's convention: `ok` means the operation happened, `fail` means it certainly did not
(a refusal, or a call the client never sent), and `info` means it may have happened (a timeout,
a lost connection). A timed-out write is never counted as failed. Each process appends JSON
lines to its own file (append-only, flushed per line); the runner merges them by time.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TextIO

INVOKE, OK, FAIL, INFO = "invoke", "ok", "fail", "info"


@dataclass
class Event:
    time: float  # wall clock (one machine: comparable across processes)
    process: str  # an engine id, or "nemesis"
    type: str  # invoke | ok | fail | info
    # submit | update | cancel | fill | elected | demoted | fault-start | fault-end | ...
    op: str
    op_id: int = 0  # pairs an invoke with its completion
    epoch: int = 0
    key: str = ""  # client_order_id, or fill_id for fills
    value: dict[str, Any] = field(default_factory=dict)


class HistoryWriter:
    def __init__(self, path: Path, process: str) -> None:
        self.process = process
        self._file: TextIO = open(path, "a", buffering=1)  # noqa: SIM115 (closed by close())
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def write(
        self, type_: str, op: str, op_id: int = 0, epoch: int = 0, key: str = "", **value: Any
    ) -> None:
        event = Event(time.time(), self.process, type_, op, op_id, epoch, key, value)
        line = json.dumps(asdict(event), sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")

    def invoke(self, op: str, epoch: int, key: str, **value: Any) -> int:
        op_id = next(self._ids)
        self.write(INVOKE, op, op_id, epoch, key, **value)
        return op_id

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read(paths: list[Path]) -> list[Event]:
    """Every event of every file, ordered by time."""
    events = []
    for path in paths:
        if path.exists():
            for line in path.read_text().splitlines():
                if line.strip():
                    events.append(Event(**json.loads(line)))
    events.sort(key=lambda e: e.time)
    return events


def completions(events: list[Event]) -> Iterator[tuple[Event, Event | None]]:
    """(invoke, completion) pairs; completion is None when the process died mid-call."""
    pending: dict[tuple[str, int], Event] = {}
    for event in events:
        if event.type == INVOKE:
            pending[(event.process, event.op_id)] = event
        elif event.op_id and (event.process, event.op_id) in pending:
            yield pending.pop((event.process, event.op_id)), event
    for invoke in pending.values():
        yield invoke, None

"""Logging for node processes: every line carries the node id, the Raft term and the epoch.

Text by default; `log_format = "json"` writes one JSON object per line for log shippers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Callable

Context = Callable[[], tuple[int, int]]  # () -> (term, epoch)


class _ContextFilter(logging.Filter):
    def __init__(self, node_id: str, context: Context | None) -> None:
        super().__init__()
        self.node_id = node_id
        self.context = context

    def filter(self, record: logging.LogRecord) -> bool:
        term, epoch = (0, 0)
        if self.context is not None:
            # never fail a log line while the node starts or stops
            with contextlib.suppress(Exception):
                term, epoch = self.context()
        record.node_id, record.term, record.epoch = self.node_id, term, epoch
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "node_id": getattr(record, "node_id", ""),
            "term": getattr(record, "term", 0),
            "epoch": getattr(record, "epoch", 0),
            "msg": record.getMessage(),
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry)


TEXT_FORMAT = (
    "%(asctime)s %(levelname)s node=%(node_id)s term=%(term)s epoch=%(epoch)s %(name)s: %(message)s"
)


def configure(node_id: str, log_format: str = "text", level: int = logging.INFO) -> _ContextFilter:
    """Sets up the root logger; returns the filter so the node can attach its context later."""
    handler = logging.StreamHandler(sys.stderr)
    context_filter = _ContextFilter(node_id, None)
    handler.addFilter(context_filter)
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("pysyncobj").setLevel(logging.WARNING)
    return context_filter

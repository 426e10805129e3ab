"""The audit trail: every entry of a node's stored Raft log, decoded, with what the state
machine did with it.

A node keeps compacted entries for `audit_retention_entries` after they leave the live log
(journal.py), and stores the outcome of every entry it applies (ACCEPTED, DUPLICATE, GRANTED /
NOT_GRANTED for campaigns, or the refusal reason: core.results.outcome_name) beside it. An
entry without a stored outcome (applied by an older release) gets one recomputed by replaying
the stored log through a fresh state machine, which is deterministic, when the stored log
starts at the beginning; otherwise `outcome` is left empty rather than guessed.
A node that installed a snapshot from the leader has no entries before that snapshot.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from enum import Enum
from typing import Any

from coordinator.core.results import outcome_name
from coordinator.core.state import CoordinatorState
from coordinator.replication.envelope import ENTRY_TYPE, EnvelopeError, decode
from coordinator.replication.journal import Entry
from coordinator.v1 import admin_pb2

NO_OP, MEMBERSHIP = 1, 2


def audit_entries(
    entries: Iterator[Entry], stored_outcome: Callable[[int], str] = lambda _index: ""
) -> Iterator[admin_pb2.AuditEntry]:
    """Decodes stored log entries, oldest first, into AuditEntry messages. `stored_outcome(index)`
    is what this node recorded when it applied the entry ("" if nothing)."""
    replay: CoordinatorState | None = None
    expected = None
    for command, index, term in entries:
        if expected is None:
            replay = CoordinatorState() if index <= 2 else None
        elif index != expected:
            replay = None  # a gap (a snapshot was installed here): outcomes are unknown from now on
        expected = index + 1
        yield _entry(command, index, term, replay, stored_outcome(index))


def _entry(
    command: bytes, index: int, term: int, replay: CoordinatorState | None, stored: str
) -> admin_pb2.AuditEntry:
    kind = command[0] if command else -1
    if kind != ENTRY_TYPE:
        name = {NO_OP: "raft_noop", MEMBERSHIP: "membership"}.get(kind, f"raft_internal_{kind}")
        return admin_pb2.AuditEntry(index=index, term=term, command=name)
    try:
        decoded, issued_at_ns = decode(command[1:])
    except EnvelopeError as exc:
        return admin_pb2.AuditEntry(
            index=index,
            term=term,
            command="unreadable",
            outcome="INVALID_COMMAND",
            fields_json=json.dumps({"error": str(exc)}),
        )
    outcome = outcome_name(replay.apply(decoded, issued_at_ns)) if replay is not None else ""
    if stored:
        outcome = stored
    fields = {f.name: _plain(getattr(decoded, f.name)) for f in dataclasses.fields(decoded)}
    return admin_pb2.AuditEntry(
        index=index,
        term=term,
        issued_at_ns=issued_at_ns,
        command=type(decoded).__name__,
        engine_id=str(fields.get("engine_id", "")),
        epoch=int(fields.get("epoch", 0) or 0),
        outcome=outcome,
        fields_json=json.dumps(fields, sort_keys=True),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value

"""The audit trail: every entry of a node's stored Raft log, decoded, with what the state
machine did with it.

A node keeps compacted entries for `audit_retention_entries` after they leave the live log
(journal.py). When its stored log still starts at the beginning, the outcome of each command
(ACCEPTED, DUPLICATE, GRANTED / NOT_GRANTED for campaigns, or the refusal reason) is recomputed
by replaying the entries through a fresh state machine, which is deterministic; once older
entries have been pruned, the state before the first stored entry is unknown and `outcome` is
left empty rather than guessed.
A node that installed a snapshot from the leader has no entries before that snapshot.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum
from typing import Any

from coordinator.core.results import CampaignResult, Refused, Result
from coordinator.core.state import CoordinatorState
from coordinator.replication.envelope import ENTRY_TYPE, EnvelopeError, decode
from coordinator.replication.journal import Entry
from coordinator.v1 import admin_pb2

NO_OP, MEMBERSHIP = 1, 2


def audit_entries(entries: Iterator[Entry]) -> Iterator[admin_pb2.AuditEntry]:
    """Decodes stored log entries, oldest first, into AuditEntry messages."""
    replay: CoordinatorState | None = None
    expected = None
    for command, index, term in entries:
        if expected is None:
            replay = CoordinatorState() if index <= 2 else None
        elif index != expected:
            replay = None  # a gap (a snapshot was installed here): outcomes are unknown from now on
        expected = index + 1
        yield _entry(command, index, term, replay)


def _entry(command: bytes, index: int, term: int, replay: CoordinatorState | None) -> admin_pb2.AuditEntry:
    kind = command[0] if command else -1
    if kind != ENTRY_TYPE:
        name = {NO_OP: "raft_noop", MEMBERSHIP: "membership"}.get(kind, f"raft_internal_{kind}")
        return admin_pb2.AuditEntry(index=index, term=term, command=name)
    try:
        decoded, issued_at_ns = decode(command[1:])
    except EnvelopeError as exc:
        return admin_pb2.AuditEntry(index=index, term=term, command="unreadable", outcome="INVALID_COMMAND",
                                    fields_json=json.dumps({"error": str(exc)}))
    outcome = ""
    if replay is not None:
        outcome = _outcome(replay.apply(decoded, issued_at_ns))
    fields = {f.name: _plain(getattr(decoded, f.name)) for f in dataclasses.fields(decoded)}
    return admin_pb2.AuditEntry(
        index=index, term=term, issued_at_ns=issued_at_ns, command=type(decoded).__name__,
        engine_id=str(fields.get("engine_id", "")), epoch=int(fields.get("epoch", 0) or 0), outcome=outcome,
        fields_json=json.dumps(fields, sort_keys=True))


def _outcome(result: Result) -> str:
    """ACCEPTED, DUPLICATE, a refusal reason, or for campaigns GRANTED / NOT_GRANTED."""
    if isinstance(result, Refused):
        return str(result.reason)
    if getattr(result, "duplicate", False):
        return "DUPLICATE"
    if isinstance(result, CampaignResult):
        return "GRANTED" if result.granted else "NOT_GRANTED"
    return "ACCEPTED"


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, Enum):
        return value.name
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value

"""The rows the CLI prints, the audit export writes and the chaos checker reads
(coordinator/wire/rows.py): whole values, absent fields as None."""

from __future__ import annotations

import json

from coordinator.v1 import admin_pb2
from coordinator.wire.rows import audit_row


def test_an_audit_row_of_an_engine_write_carries_its_epoch_engine_outcome_and_fields() -> None:
    entry = admin_pb2.AuditEntry(
        index=7,
        term=2,
        issued_at_ns=1_000,
        command="SubmitOrder",
        engine_id="eng-a",
        epoch=3,
        outcome="STALE_EPOCH",
        fields_json=json.dumps({"client_order_id": "o1"}),
    )
    assert audit_row(entry) == {
        "index": 7,
        "term": 2,
        "issued_at_ns": 1_000,
        "command": "SubmitOrder",
        "engine_id": "eng-a",
        "epoch": 3,
        "outcome": "STALE_EPOCH",
        "fields": {"client_order_id": "o1"},
    }


def test_an_audit_row_of_a_raft_noop_has_none_for_what_it_lacks_in_the_export_column_order() -> (
    None
):
    row = audit_row(admin_pb2.AuditEntry(index=1, term=1, command="raft_noop"))
    assert row == {
        "index": 1,
        "term": 1,
        "issued_at_ns": 0,
        "command": "raft_noop",
        "engine_id": None,
        "epoch": None,
        "outcome": None,
        "fields": {},
    }
    assert list(row) == [
        "index",
        "term",
        "issued_at_ns",
        "command",
        "engine_id",
        "epoch",
        "outcome",
        "fields",
    ]

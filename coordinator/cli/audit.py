"""`coordinator audit export`: every state change, as JSON lines in the shape of
coordinator/wire/rows.py:audit_row, read from one node's stored Raft log."""

from __future__ import annotations

import json
from typing import Any

import click
import grpc

from coordinator.cli.operator import Operator, cluster_command, readable
from coordinator.v1 import admin_pb2, admin_pb2_grpc
from coordinator.wire.rows import audit_row


@click.group()
def audit() -> None:
    """The audit trail, from a node's stored Raft log."""


@audit.command("export")
@click.option(
    "--from", "from_index", default=0, show_default=True, help="First log index to export."
)
@click.option(
    "--node",
    "node_address",
    default="",
    help="The node to read (default: the first reachable one).",
)
@click.option(
    "--output",
    type=click.File("w"),
    default="-",
    help="Where to write JSON lines (default stdout).",
)
@cluster_command
def audit_export(ops: Operator, from_index: int, node_address: str, output: Any) -> None:
    """Every state change: index, term, leader-stamped time, command, engine, epoch, outcome and
    the command's fields. A table by default; JSON lines with --json (the audit file format).
    Compacted entries are kept for audit_retention_entries.

    \b
    Example:
      coordinator audit export --from 5000
      coordinator audit export --json --output audit.jsonl
      coordinator audit export --json --from 5000 | jq 'select(.outcome == "STALE_EPOCH")'
    """
    write = _json_line if ops.as_json else _table_line
    if not ops.as_json:
        output.write(HEADER + "\n")
    addresses = [node_address] if node_address else list(ops.client.addresses)
    for address in addresses:
        try:
            with grpc.insecure_channel(address) as channel:
                stub = admin_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
                count = 0
                for batch in stub.ExportAudit(
                    admin_pb2.ExportAuditRequest(from_index=from_index), timeout=300
                ):
                    for e in batch.entries:
                        output.write(write(audit_row(e)) + "\n")
                        count += 1
                click.echo(f"exported {count} entries from {address}", err=True)
                return
        except grpc.RpcError as exc:
            if node_address or address == addresses[-1]:
                raise
            click.echo(f"{address}: {exc.code().name}; trying the next node", err=True)


# the table's columns and widths; rows stream, so widths are fixed rather than measured
COLUMNS = {
    "index": 8,
    "term": 5,
    "issued_at_ns": 25,
    "command": 18,
    "engine_id": 12,
    "epoch": 6,
    "outcome": 22,
}
HEADER = (
    "  ".join(key.removesuffix("_ns").upper().ljust(width) for key, width in COLUMNS.items())
    + "  FIELDS"
)


def _json_line(row: dict[str, Any]) -> str:
    return json.dumps(row)


def _table_line(row: dict[str, Any]) -> str:
    cells = "  ".join(readable(key, row[key]).ljust(width) for key, width in COLUMNS.items())
    fields = " ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in row["fields"].items()
    )
    return f"{cells}  {fields}".rstrip()

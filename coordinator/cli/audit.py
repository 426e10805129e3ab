"""`coordinator audit export`: every state change, as JSON lines in the shape of
coordinator/wire/rows.py:audit_row, read from one node's stored Raft log."""

from __future__ import annotations

import json
from typing import Any

import click
import grpc

from coordinator.cli.operator import Operator, cluster_command
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
    """Every state change as JSON lines: index, term, command, epoch, engine, leader-stamped time,
    outcome. Compacted entries are kept for audit_retention_entries.

    \b
    Example:
      coordinator audit export --output audit.jsonl
      coordinator audit export --from 5000 | jq 'select(.outcome == "STALE_EPOCH")'
    """
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
                        output.write(json.dumps(audit_row(e)) + "\n")
                        count += 1
                click.echo(f"exported {count} entries from {address}", err=True)
                return
        except grpc.RpcError as exc:
            if node_address or address == addresses[-1]:
                raise
            click.echo(f"{address}: {exc.code().name}; trying the next node", err=True)

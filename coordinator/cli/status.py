"""`coordinator status`: every node's Raft view and the execution role, in one table.

It asks every node it can find (the addresses given, then the members they know of) for its
own status, so an unreachable member shows as a row too.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from coordinator.cli.exits import ExitCode
from coordinator.cli.operator import ROLE_NAMES, Operator, cluster_command, table
from coordinator.v1 import admin_pb2


def status_document(ops: Operator) -> dict[str, Any]:
    statuses = ops.statuses()
    up = {a: s for a, s in statuses.items() if s is not None}
    leader = max(
        (s for s in up.values() if s.role == admin_pb2.LEADER), key=lambda s: s.term, default=None
    )
    nodes = []
    for address, s in sorted(statuses.items(), key=lambda kv: kv[1].node_id if kv[1] else kv[0]):
        if s is None:
            nodes.append({"node_id": "?", "grpc_address": address, "reachable": False})
            continue
        nodes.append(
            {
                "node_id": s.node_id,
                "grpc_address": address,
                "reachable": True,
                "role": ROLE_NAMES.get(s.role, "?"),
                "term": s.term,
                "commit_index": s.commit_index,
                "applied_index": s.applied_index,
                "lag": max(0, leader.commit_index - s.applied_index) if leader else None,
                "digest": s.digest[:12],
                "has_quorum": s.has_quorum,
            }
        )
    document: dict[str, Any] = {"nodes": nodes, "raft_leader": leader.node_id if leader else None}
    if leader is not None:
        document.update(
            {
                "epoch": leader.epoch,
                "active_engine": leader.holder_id or None,
                "lease_remaining_ms": leader.lease_remaining_ms if leader.holder_id else None,
                "lease_ttl_ms": leader.ttl_ms or None,
                "halted": leader.halted,
                "halt_reason": leader.halt_reason or None,
                "handoff_to": leader.handoff_to or None,
            }
        )
    return document


def status_text(document: dict[str, Any]) -> str:
    rows = [
        [
            n["node_id"],
            n["grpc_address"],
            n.get("role", "unreachable"),
            n.get("term", ""),
            n.get("commit_index", ""),
            n.get("applied_index", ""),
            "" if n.get("lag") is None else n["lag"],
            "yes" if n["reachable"] else "NO",
            n.get("digest", ""),
        ]
        for n in document["nodes"]
    ]
    lines = [
        table(
            ["NODE", "GRPC", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "REACHABLE", "DIGEST"],
            rows,
        ),
        "",
    ]
    if document["raft_leader"] is None:
        lines.append("raft leader: NONE (election in progress, or no quorum)")
        return "\n".join(lines)
    engine = document["active_engine"]
    lease = (
        f"{document['lease_remaining_ms']} ms of {document['lease_ttl_ms']} ms left"
        if engine
        else "-"
    )
    lines += [
        f"raft leader:   {document['raft_leader']}",
        f"epoch:         {document['epoch']}",
        f"active engine: {engine or 'none (the role is free)'}   lease: {lease}",
        "halted:        "
        f"{'YES: ' + (document['halt_reason'] or '') if document['halted'] else 'no'}",
    ]
    if document.get("handoff_to"):
        lines.append(f"hand-off:      requested to {document['handoff_to']}")
    return "\n".join(lines)


@click.command()
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option(
    "--interval", default=1.0, show_default=True, help="Seconds between refreshes with --watch."
)
@cluster_command
def status(ops: Operator, watch: bool, interval: float) -> None:
    """Every node's role, term, indexes, lag and digest; the Raft leader; the active engine.
    Exits 3 when no node reports a Raft leader (nothing can commit).

    \b
    Example:
      coordinator status --cluster 10.0.1.5:7001,10.0.2.5:7001,10.0.3.5:7001
      COORDINATOR_CLUSTER=127.0.0.1:7001 coordinator status --watch
      coordinator status --watch --json | jq -c '{leader: .raft_leader, epoch}'
    """
    while True:
        document = status_document(ops)
        if not any(n["reachable"] for n in document["nodes"]):
            raise ops.no_node_answered()
        if watch and ops.as_json:  # one object per line, for jq -c and log shippers
            click.echo(json.dumps(document, sort_keys=True))
        elif watch:
            click.echo("\x1b[2J\x1b[H" + time.strftime("%H:%M:%S ") + status_text(document))
        else:
            ops.emit(document, lambda d=document: status_text(d))  # type: ignore[misc]
        if not watch:
            if document["raft_leader"] is None:
                sys.exit(ExitCode.UNAVAILABLE)  # nodes answer, but nothing can commit
            return
        time.sleep(interval)

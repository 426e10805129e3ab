"""`coordinator members`: list the voters, add one through a learner that has caught up, remove one.

The leader decides every change (the one membership rule, coordinator/replication/membership.py);
`members add` asks the same rule first only to refuse before a long catch-up wait.
"""

from __future__ import annotations

import time
from typing import Any

import click
import grpc

from coordinator.cli.operator import ROLE_NAMES, Operator, cluster_command, status_of, table
from coordinator.client import Refused, Unavailable
from coordinator.replication.membership import Reachability, refuse_add
from coordinator.v1 import admin_pb2, admin_pb2_grpc


@click.group()
def members() -> None:
    """The cluster's voters: list, add (via a learner that catches up first), remove."""


def member_rows(response: admin_pb2.ListMembersResponse) -> list[dict[str, Any]]:
    return [
        {
            "node_id": m.node_id,
            "raft_address": m.raft_address,
            "grpc_address": m.grpc_address,
            "leader": m.node_id == response.leader_id,
            "connected_to_leader": m.connected or m.is_self,
            "match_index": m.match_index,
        }
        for m in response.members
    ]


@members.command("list")
@cluster_command
def members_list(ops: Operator) -> None:
    """The voters, as the Raft leader sees them.

    \b
    Example:
      coordinator members list --json
    """
    response = list_members(ops)
    rows = member_rows(response)
    ops.emit(
        rows,
        lambda: table(
            ["NODE", "RAFT", "GRPC", "LEADER", "CONNECTED", "MATCH"],
            [
                [
                    r["node_id"],
                    r["raft_address"],
                    r["grpc_address"],
                    "*" if r["leader"] else "",
                    "yes" if r["connected_to_leader"] else "NO",
                    r["match_index"],
                ]
                for r in rows
            ],
        ),
    )


def list_members(ops: Operator) -> admin_pb2.ListMembersResponse:
    leader = ops.leader_status()
    with grpc.insecure_channel(leader.leader_grpc_address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        response: admin_pb2.ListMembersResponse = stub.ListMembers(
            admin_pb2.ListMembersRequest(), timeout=2
        )
        return response


@members.command("add")
@click.argument("node_id")
@click.option(
    "--raft",
    "raft_address",
    required=True,
    metavar="HOST:PORT",
    help="The new node's advertised Raft address.",
)
@click.option(
    "--grpc",
    "grpc_address",
    required=True,
    metavar="HOST:PORT",
    help="The new node's gRPC address.",
)
@click.option(
    "--lag-max",
    default=100,
    show_default=True,
    help="Promote once the learner is this close (entries).",
)
@click.option(
    "--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for catch-up."
)
@cluster_command
def members_add(
    ops: Operator,
    node_id: str,
    raft_address: str,
    grpc_address: str,
    lag_max: int,
    timeout_s: float,
) -> None:
    """Add a voter safely: it must already run as a learner (join = true); it is promoted only
    once its log is within --lag-max entries of the leader's, so adding it never stalls the cluster.

    \b
    Example:
      coordinator serve --config dc4.toml        # on the new node, with join = true
      coordinator members add dc4 --raft 10.0.4.5:7101 --grpc 10.0.4.5:7001
    """
    try:
        learner = status_of(grpc_address, 2.0)
    except grpc.RpcError:
        raise click.UsageError(
            f"{node_id} does not answer at {grpc_address}: start it first with join = true in its "
            "config, then run this again"
        ) from None
    if learner.node_id != node_id:
        raise click.UsageError(
            f"the node at {grpc_address} is {learner.node_id!r}, not {node_id!r}"
        )
    if learner.role != admin_pb2.LEARNER:
        current = {m.node_id for m in list_members(ops).members}
        if node_id in current:
            click.echo(f"{node_id} is already a voter")
            return
        raise click.UsageError(
            f"{node_id} is running as a {ROLE_NAMES.get(learner.role)}, not a learner: start it "
            "with join = true"
        )
    refusal = refuse_add(Reachability.of(list_members(ops).members), node_id)
    if refusal is not None:  # the leader would refuse it too; say so before waiting for catch-up
        raise Refused(refusal, reason="MEMBERSHIP_REFUSED")
    deadline = time.monotonic() + timeout_s
    while True:
        leader = ops.leader_status()
        learner = status_of(grpc_address, 2.0)
        behind = leader.commit_index - learner.applied_index
        if not ops.as_json:
            click.echo(
                f"  {node_id} catching up: applied {learner.applied_index}, leader committed "
                f"{leader.commit_index} ({max(0, behind)} behind)"
            )
        if behind <= lag_max:
            break
        if time.monotonic() > deadline:
            raise Unavailable(
                f"{node_id} did not catch up within {timeout_s:.0f}s ({behind} entries behind)",
                False,
            )
        time.sleep(0.5)
    response = ops.client.call(
        "Admin",
        "AddMember",
        admin_pb2.AddMemberRequest(
            node_id=node_id, raft_address=raft_address, grpc_address=grpc_address
        ),
    )
    wait_voter(ops, node_id, grpc_address, deadline=time.monotonic() + 30)
    ops.emit(
        {"added": node_id, "members": [m.node_id for m in response.members]},
        lambda: f"{node_id} is a voter; members: {', '.join(m.node_id for m in response.members)}",
    )


def wait_voter(ops: Operator, node_id: str, grpc_address: str, deadline: float) -> None:
    """Until the promoted node serves as a voter and the leader sees it connected."""
    while time.monotonic() < deadline:
        try:
            promoted = status_of(grpc_address, 1.0).role in (admin_pb2.FOLLOWER, admin_pb2.LEADER)
            connected = any(
                m.node_id == node_id and (m.connected or m.is_self)
                for m in list_members(ops).members
            )
        except (grpc.RpcError, Unavailable):
            promoted = connected = False
        if promoted and connected:
            return
        time.sleep(0.2)
    raise Unavailable(f"{node_id} was added but is not yet serving as a voter; check its log", True)


@members.command("remove")
@click.argument("node_id")
@cluster_command
def members_remove(ops: Operator, node_id: str) -> None:
    """Remove a voter. If it is the Raft leader, leadership moves to another voter first. A
    removal that would leave fewer than a majority of voters reachable is refused.

    \b
    Example:
      coordinator members remove dc4
    """
    current = list_members(ops)
    if node_id not in {m.node_id for m in current.members}:
        raise click.UsageError(
            f"{node_id} is not a member (members: {', '.join(m.node_id for m in current.members)})"
        )
    if current.leader_id == node_id:
        moved = ops.client.call(
            "Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest()
        )
        if not ops.as_json:
            click.echo(f"  {node_id} was the Raft leader; leadership moved to {moved.leader_id}")
    response = ops.client.call(
        "Admin", "RemoveMember", admin_pb2.RemoveMemberRequest(node_id=node_id)
    )
    remaining = [m.node_id for m in response.members]
    ops.emit(
        {"removed": node_id, "members": remaining},
        lambda: (
            f"{node_id} removed; members: {', '.join(remaining)}. Stop its process now: it no "
            "longer takes part and will not be told."
        ),
    )

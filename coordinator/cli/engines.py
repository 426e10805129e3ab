"""`coordinator engines`: who holds the execution role, at which epoch; and a planned hand-off."""

from __future__ import annotations

import threading

import click

from coordinator.cli.operator import Operator, cluster_command, operator
from coordinator.client import Unavailable
from coordinator.v1 import admin_pb2


@click.group(invoke_without_command=True)
@click.option(
    "--cluster",
    envvar="COORDINATOR_CLUSTER",
    metavar="ADDRESSES",
    help="gRPC addresses of any nodes, comma-separated (or COORDINATOR_CLUSTER).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def engines(ctx: click.Context, cluster: str | None, as_json: bool) -> None:
    """The execution role: who holds it, at which epoch, with how much lease left.

    \b
    Example:
      coordinator engines --json
      coordinator engines handoff --to eng-b
    """
    if ctx.invoked_subcommand is not None:
        return
    if not cluster:
        raise click.UsageError("--cluster or COORDINATOR_CLUSTER is required")
    with operator() as ops:
        ops.connect(cluster, as_json)
        leader = ops.leader_status()
        document = {
            "epoch": leader.epoch,
            "holder": leader.holder_id or None,
            "ttl_ms": leader.ttl_ms or None,
            "lease_remaining_ms": leader.lease_remaining_ms if leader.holder_id else None,
            "handoff_to": leader.handoff_to or None,
        }
        ops.emit(
            document,
            lambda: (
                f"epoch {leader.epoch}: "
                + (
                    f"held by {leader.holder_id}, {leader.lease_remaining_ms} ms of "
                    f"{leader.ttl_ms} ms lease left"
                    if leader.holder_id
                    else "the role is free"
                )
                + (f"; hand-off to {leader.handoff_to} requested" if leader.handoff_to else "")
            ),
        )


@engines.command("handoff")
@click.option("--to", "to_engine", required=True, help="The engine that takes over.")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True)
@cluster_command
def engines_handoff(ops: Operator, to_engine: str, timeout_s: float) -> None:
    """A planned, zero-gap failover: the holder drains, resigns in favour of --to, which is
    granted next. Refused (exit 2) unless --to is a live standby: an engine that campaigned
    within its TTL; exits 3 if it is not granted within --timeout.

    \b
    Example:
      coordinator engines handoff --to eng-b
    """
    requested = ops.client.call(
        "Admin", "RequestHandoff", admin_pb2.RequestHandoffRequest(to_engine_id=to_engine)
    )
    if not ops.as_json:
        click.echo(
            f"  asked {requested.holder_id} (epoch {requested.epoch}) to hand off to {to_engine}"
        )
    stop_watch = threading.Event()
    timer = threading.Timer(timeout_s, stop_watch.set)  # the wait ends on time, events or not
    timer.start()
    released_ns = granted_ns = 0
    try:
        for event in ops.client.observe(stop=stop_watch):
            if event.holder_id == "" and event.epoch == requested.epoch:
                released_ns = event.changed_at_ns
            if event.holder_id == to_engine and event.epoch > requested.epoch:
                granted_ns = event.changed_at_ns
                break
    finally:
        timer.cancel()
        stop_watch.set()
    if not granted_ns:
        raise Unavailable(
            f"{to_engine} was not granted within {timeout_s:.0f}s (is it running and campaigning?)",
            False,
        )
    gap_ms = (granted_ns - released_ns) / 1e6 if released_ns else None
    ops.emit(
        {"from": requested.holder_id, "to": to_engine, "gap_ms": gap_ms},
        lambda: (
            f"{to_engine} holds the role"
            + (f"; the role was free for {gap_ms:.1f} ms" if gap_ms else "")
        ),
    )

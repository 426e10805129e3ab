"""The operator commands of the `coordinator` CLI: status, members, engines, orders,
positions, halt/resume, risk, audit. Each is a thin click command over the client library.

Every command reads the cluster from --cluster or COORDINATOR_CLUSTER (comma-separated gRPC
addresses of any of its nodes), prints a table by default and JSON with --json, and exits
0 ok, 1 refused, 2 usage or config error, 3 cluster unavailable (one mapping: `operator`).
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, TypeVar

import click
import grpc

from coordinator.client import CoordinatorClient, Refused, RetryPolicy, Unavailable
from coordinator.core.model import Order, Position
from coordinator.core.numbers import format_decimal
from coordinator.replication.membership import Reachability, refuse_add
from coordinator.v1 import admin_pb2, admin_pb2_grpc, types_pb2

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3
F = TypeVar("F", bound=Callable[..., Any])
# The proto enum carries replication.roles.Role's names (tests/unit/test_defaults.py); the CLI prints them in lowercase.
ROLE_NAMES = {number: name.lower() for name, number in admin_pb2.Role.items() if number != admin_pb2.ROLE_UNSPECIFIED}


# ------------------------------------------------------------------------ shared plumbing

def cluster_command(func: F) -> F:
    """--cluster / COORDINATOR_CLUSTER and --json, plus the exit-code mapping."""

    @click.option("--cluster", envvar="COORDINATOR_CLUSTER", required=True, metavar="ADDRESSES",
                  help="gRPC addresses of any nodes, comma-separated (or COORDINATOR_CLUSTER).")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
    @functools.wraps(func)
    def wrapper(*args: Any, cluster: str, as_json: bool, **kwargs: Any) -> Any:
        with operator() as ops:
            ops.connect(cluster, as_json)
            return func(ops, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Operator:
    """What a command needs: a client with a short retry budget, and output in the chosen form."""

    client: CoordinatorClient
    as_json: bool

    def connect(self, cluster: str, as_json: bool) -> None:
        try:
            self.client = CoordinatorClient(cluster, retry=RetryPolicy(call_timeout_ms=2000, budget_ms=5000))
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        self.as_json = as_json

    def emit(self, document: Any, table: Callable[[], str]) -> None:
        click.echo(json.dumps(document, indent=2, sort_keys=True) if self.as_json else table())

    def statuses(self, timeout_s: float = 1.0) -> dict[str, admin_pb2.StatusResponse | None]:
        """Status of every node: the ones given, plus the members the reachable ones know of."""
        found: dict[str, admin_pb2.StatusResponse | None] = {}
        pending = list(self.client.addresses)
        while pending:
            address = pending.pop(0)
            if address in found:
                continue
            try:
                found[address] = status_of(address, timeout_s)
            except grpc.RpcError:
                found[address] = None
                continue
            pending += [m.grpc_address for m in found[address].members if m.grpc_address not in found]  # type: ignore[union-attr]
        return found

    def leader_status(self) -> admin_pb2.StatusResponse:
        statuses = [s for s in self.statuses().values() if s is not None]
        leaders = [s for s in statuses if s.role == admin_pb2.LEADER]
        if not leaders:
            raise Unavailable("no node reports itself Raft leader (election in progress, or no quorum)", False)
        return max(leaders, key=lambda s: s.term)


@contextmanager
def operator() -> Iterator[Operator]:
    """Maps failures to the documented exit codes, with a one-line reason."""
    ops = Operator()
    try:
        yield ops
    except Refused as exc:
        click.echo(f"refused: {exc.reason}: {exc.message}" + (f" (field: {exc.field})" if exc.field else ""),
                   err=True)
        sys.exit(EXIT_REFUSED)
    except Unavailable as exc:
        click.echo(f"cluster unavailable: {exc}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    except grpc.RpcError as exc:
        click.echo(f"cluster unavailable: {exc.code().name}: {exc.details()}", err=True)
        sys.exit(EXIT_UNAVAILABLE)
    finally:
        client = getattr(ops, "client", None)
        if client is not None:
            client.close()


def status_of(address: str, timeout_s: float = 1.0) -> admin_pb2.StatusResponse:
    with grpc.insecure_channel(address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        response: admin_pb2.StatusResponse = stub.Status(admin_pb2.StatusRequest(), timeout=timeout_s)
        return response


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def order_dict(o: Order) -> dict[str, Any]:
    return {"client_order_id": o.client_order_id, "account": o.account, "instrument": o.instrument,
            "side": o.side.name, "quantity": format_decimal(o.quantity), "price": format_decimal(o.price),
            "status": o.status.name, "filled_quantity": format_decimal(o.filled_quantity),
            "average_fill_price": None if o.average_fill_price is None else format_decimal(o.average_fill_price),
            "venue_order_id": o.venue_order_id, "cancel_requested": o.cancel_requested, "epoch": o.epoch,
            "engine_id": o.engine_id, "created_at_ns": o.created_at_ns}


def position_dict(p: Position) -> dict[str, Any]:
    return {"account": p.account, "instrument": p.instrument, "quantity": format_decimal(p.quantity),
            "average_price": format_decimal(p.average_price), "realized_pnl": format_decimal(p.realized_pnl)}


# -------------------------------------------------------------------------------- status

def status_document(ops: Operator) -> dict[str, Any]:
    statuses = ops.statuses()
    up = {a: s for a, s in statuses.items() if s is not None}
    leader = max((s for s in up.values() if s.role == admin_pb2.LEADER), key=lambda s: s.term, default=None)
    nodes = []
    for address, s in sorted(statuses.items(), key=lambda kv: (kv[1].node_id if kv[1] else kv[0])):
        if s is None:
            nodes.append({"node_id": "?", "grpc_address": address, "reachable": False})
            continue
        nodes.append({"node_id": s.node_id, "grpc_address": address, "reachable": True,
                      "role": ROLE_NAMES.get(s.role, "?"), "term": s.term, "commit_index": s.commit_index,
                      "applied_index": s.applied_index,
                      "lag": max(0, leader.commit_index - s.applied_index) if leader else None,
                      "digest": s.digest[:12], "has_quorum": s.has_quorum})
    document: dict[str, Any] = {"nodes": nodes, "raft_leader": leader.node_id if leader else None}
    if leader is not None:
        document.update({"epoch": leader.epoch, "active_engine": leader.holder_id or None,
                         "lease_remaining_ms": leader.lease_remaining_ms if leader.holder_id else None,
                         "lease_ttl_ms": leader.ttl_ms or None, "halted": leader.halted,
                         "halt_reason": leader.halt_reason or None, "handoff_to": leader.handoff_to or None})
    return document


def status_text(document: dict[str, Any]) -> str:
    rows = [[n["node_id"], n["grpc_address"], n.get("role", "unreachable"), n.get("term", ""),
             n.get("commit_index", ""), n.get("applied_index", ""), "" if n.get("lag") is None else n["lag"],
             "yes" if n["reachable"] else "NO", n.get("digest", "")] for n in document["nodes"]]
    lines = [table(["NODE", "GRPC", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "REACHABLE", "DIGEST"], rows), ""]
    if document["raft_leader"] is None:
        lines.append("raft leader: NONE (election in progress, or no quorum)")
        return "\n".join(lines)
    engine = document["active_engine"]
    lease = f"{document['lease_remaining_ms']} ms of {document['lease_ttl_ms']} ms left" if engine else "-"
    lines += [f"raft leader:   {document['raft_leader']}",
              f"epoch:         {document['epoch']}",
              f"active engine: {engine or 'none (the role is free)'}   lease: {lease}",
              f"halted:        {'YES: ' + (document['halt_reason'] or '') if document['halted'] else 'no'}"]
    if document.get("handoff_to"):
        lines.append(f"hand-off:      requested to {document['handoff_to']}")
    return "\n".join(lines)


@click.command()
@click.option("--watch", is_flag=True, help="Refresh until interrupted.")
@click.option("--interval", default=1.0, show_default=True, help="Seconds between refreshes with --watch.")
@cluster_command
def status(ops: Operator, watch: bool, interval: float) -> None:
    """Every node's role, term, indexes, lag and digest; the Raft leader; the active engine.
    Exits 3 when no node reports a Raft leader (nothing can commit).

    \b
    Example:
      coordinator status --cluster 10.0.1.5:7001,10.0.2.5:7001,10.0.3.5:7001
      COORDINATOR_CLUSTER=127.0.0.1:7001 coordinator status --watch
    """
    while True:
        document = status_document(ops)
        if not any(n["reachable"] for n in document["nodes"]):
            raise Unavailable("no node answered", False)
        if watch and not ops.as_json:
            click.echo("\x1b[2J\x1b[H" + time.strftime("%H:%M:%S ") + status_text(document))
        else:
            ops.emit(document, lambda d=document: status_text(d))  # type: ignore[misc]
        if not watch:
            if document["raft_leader"] is None:
                sys.exit(EXIT_UNAVAILABLE)  # nodes answer, but nothing can commit
            return
        time.sleep(interval)


# ------------------------------------------------------------------------------- members

@click.group()
def members() -> None:
    """The cluster's voters: list, add (via a learner that catches up first), remove."""


def member_rows(response: admin_pb2.ListMembersResponse) -> list[dict[str, Any]]:
    return [{"node_id": m.node_id, "raft_address": m.raft_address, "grpc_address": m.grpc_address,
             "leader": m.node_id == response.leader_id, "connected_to_leader": m.connected or m.is_self,
             "match_index": m.match_index} for m in response.members]


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
    ops.emit(rows, lambda: table(["NODE", "RAFT", "GRPC", "LEADER", "CONNECTED", "MATCH"], [
        [r["node_id"], r["raft_address"], r["grpc_address"], "*" if r["leader"] else "",
         "yes" if r["connected_to_leader"] else "NO", r["match_index"]] for r in rows]))


def list_members(ops: Operator) -> admin_pb2.ListMembersResponse:
    leader = ops.leader_status()
    with grpc.insecure_channel(leader.leader_grpc_address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        response: admin_pb2.ListMembersResponse = stub.ListMembers(admin_pb2.ListMembersRequest(), timeout=2)
        return response


@members.command("add")
@click.argument("node_id")
@click.option("--raft", "raft_address", required=True, metavar="HOST:PORT",
              help="The new node's advertised Raft address.")
@click.option("--grpc", "grpc_address", required=True, metavar="HOST:PORT", help="The new node's gRPC address.")
@click.option("--lag-max", default=100, show_default=True, help="Promote once the learner is this close (entries).")
@click.option("--timeout", "timeout_s", default=120.0, show_default=True, help="Seconds to wait for catch-up.")
@cluster_command
def members_add(ops: Operator, node_id: str, raft_address: str, grpc_address: str, lag_max: int,
                timeout_s: float) -> None:
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
        raise click.UsageError(f"{node_id} does not answer at {grpc_address}: start it first with join = true "
                               "in its config, then run this again") from None
    if learner.node_id != node_id:
        raise click.UsageError(f"the node at {grpc_address} is {learner.node_id!r}, not {node_id!r}")
    if learner.role != admin_pb2.LEARNER:
        current = {m.node_id for m in list_members(ops).members}
        if node_id in current:
            click.echo(f"{node_id} is already a voter")
            return
        raise click.UsageError(f"{node_id} is running as a {ROLE_NAMES.get(learner.role)}, not a learner: "
                               "start it with join = true")
    refusal = refuse_add(Reachability.of(list_members(ops).members), node_id)
    if refusal is not None:  # the leader would refuse it too; say so before waiting for catch-up
        raise Refused(refusal, reason="MEMBERSHIP_REFUSED")
    deadline = time.monotonic() + timeout_s
    while True:
        leader = ops.leader_status()
        learner = status_of(grpc_address, 2.0)
        behind = leader.commit_index - learner.applied_index
        if not ops.as_json:
            click.echo(f"  {node_id} catching up: applied {learner.applied_index}, leader committed "
                       f"{leader.commit_index} ({max(0, behind)} behind)")
        if behind <= lag_max:
            break
        if time.monotonic() > deadline:
            raise Unavailable(f"{node_id} did not catch up within {timeout_s:.0f}s ({behind} entries behind)", False)
        time.sleep(0.5)
    response = ops.client.call("Admin", "AddMember", admin_pb2.AddMemberRequest(
        node_id=node_id, raft_address=raft_address, grpc_address=grpc_address))
    wait_voter(ops, node_id, grpc_address, deadline=time.monotonic() + 30)
    ops.emit({"added": node_id, "members": [m.node_id for m in response.members]},
             lambda: f"{node_id} is a voter; members: {', '.join(m.node_id for m in response.members)}")


def wait_voter(ops: Operator, node_id: str, grpc_address: str, deadline: float) -> None:
    """Until the promoted node serves as a voter and the leader sees it connected."""
    while time.monotonic() < deadline:
        try:
            promoted = status_of(grpc_address, 1.0).role in (admin_pb2.FOLLOWER, admin_pb2.LEADER)
            connected = any(m.node_id == node_id and (m.connected or m.is_self) for m in list_members(ops).members)
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
        raise click.UsageError(f"{node_id} is not a member (members: {', '.join(m.node_id for m in current.members)})")
    if current.leader_id == node_id:
        moved = ops.client.call("Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest())
        if not ops.as_json:
            click.echo(f"  {node_id} was the Raft leader; leadership moved to {moved.leader_id}")
    response = ops.client.call("Admin", "RemoveMember", admin_pb2.RemoveMemberRequest(node_id=node_id))
    remaining = [m.node_id for m in response.members]
    ops.emit({"removed": node_id, "members": remaining},
             lambda: f"{node_id} removed; members: {', '.join(remaining)}. Stop its process now: it no longer "
                     "takes part and will not be told.")


# ------------------------------------------------------------------------------- engines

@click.group(invoke_without_command=True)
@click.option("--cluster", envvar="COORDINATOR_CLUSTER", metavar="ADDRESSES",
              help="gRPC addresses of any nodes, comma-separated (or COORDINATOR_CLUSTER).")
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
        document = {"epoch": leader.epoch, "holder": leader.holder_id or None, "ttl_ms": leader.ttl_ms or None,
                    "lease_remaining_ms": leader.lease_remaining_ms if leader.holder_id else None,
                    "handoff_to": leader.handoff_to or None}
        ops.emit(document, lambda: (f"epoch {leader.epoch}: " + (
            f"held by {leader.holder_id}, {leader.lease_remaining_ms} ms of {leader.ttl_ms} ms lease left"
            if leader.holder_id else "the role is free") + (
            f"; hand-off to {leader.handoff_to} requested" if leader.handoff_to else "")))


@engines.command("handoff")
@click.option("--to", "to_engine", required=True, help="The engine that takes over.")
@click.option("--timeout", "timeout_s", default=30.0, show_default=True)
@cluster_command
def engines_handoff(ops: Operator, to_engine: str, timeout_s: float) -> None:
    """A planned, zero-gap failover: the holder drains, resigns in favour of --to, which is
    granted next (the named engine must be running and campaigning).

    \b
    Example:
      coordinator engines handoff --to eng-b
    """
    requested = ops.client.call("Admin", "RequestHandoff", admin_pb2.RequestHandoffRequest(to_engine_id=to_engine))
    if not ops.as_json:
        click.echo(f"  asked {requested.holder_id} (epoch {requested.epoch}) to hand off to {to_engine}")
    stop_watch = threading.Event()
    deadline = time.monotonic() + timeout_s
    released_ns = granted_ns = 0
    try:
        for event in ops.client.observe(stop=stop_watch):
            if event.holder_id == "" and event.epoch == requested.epoch:
                released_ns = event.changed_at_ns
            if event.holder_id == to_engine and event.epoch > requested.epoch:
                granted_ns = event.changed_at_ns
                break
            if time.monotonic() > deadline:
                raise Unavailable(f"{to_engine} was not granted within {timeout_s:.0f}s (is it running?)", False)
    finally:
        stop_watch.set()
    gap_ms = (granted_ns - released_ns) / 1e6 if released_ns else None
    ops.emit({"from": requested.holder_id, "to": to_engine, "gap_ms": gap_ms},
             lambda: f"{to_engine} holds the role" + (f"; the role was free for {gap_ms:.1f} ms" if gap_ms else ""))


# ------------------------------------------------------------------------ orders, positions

@click.group()
def orders() -> None:
    """The order book (linearizable reads through the Raft leader)."""


@orders.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Include filled, canceled and rejected orders.")
@click.option("--account", default="", help="Only this account.")
@click.option("--instrument", default="", help="Only this instrument.")
@cluster_command
def orders_list(ops: Operator, include_closed: bool, account: str, instrument: str) -> None:
    """Open orders by default.

    \b
    Example:
      coordinator orders list --account ACC1 --instrument BTC-PERP
      coordinator orders list --all --json
    """
    found = ops.client.orders(open_only=not include_closed, account=account, instrument=instrument)
    rows = [order_dict(o) for o in found]
    ops.emit(rows, lambda: table(["CLIENT_ORDER_ID", "ACCOUNT", "INSTRUMENT", "SIDE", "QTY", "PRICE", "STATUS",
                                  "FILLED", "EPOCH", "ENGINE"], [
        [r["client_order_id"], r["account"], r["instrument"], r["side"], r["quantity"], r["price"], r["status"],
         r["filled_quantity"], r["epoch"], r["engine_id"]] for r in rows]) + f"\n{len(rows)} orders")


@orders.command("get")
@click.argument("client_order_id")
@cluster_command
def orders_get(ops: Operator, client_order_id: str) -> None:
    """One order by client_order_id.

    \b
    Example:
      coordinator orders get ord-42
    """
    order = order_dict(ops.client.get_order(client_order_id))
    ops.emit(order, lambda: "\n".join(f"{k:<20} {v}" for k, v in order.items()))


@click.command()
@click.option("--account", default="", help="Only this account.")
@click.option("--instrument", default="", help="Only this instrument.")
@cluster_command
def positions(ops: Operator, account: str, instrument: str) -> None:
    """Net positions per (account, instrument): the sum of their fills.

    \b
    Example:
      coordinator positions --account ACC1
    """
    rows = [position_dict(p) for p in ops.client.positions(account=account, instrument=instrument)]
    ops.emit(rows, lambda: table(["ACCOUNT", "INSTRUMENT", "QUANTITY", "AVG_PRICE", "REALIZED_PNL"], [
        [r["account"], r["instrument"], r["quantity"], r["average_price"], r["realized_pnl"]] for r in rows]))


# ------------------------------------------------------------------------ halt, risk, audit

@click.command()
@click.option("--reason", required=True, help="Why trading stops (shown to everyone who asks).")
@cluster_command
def halt(ops: Operator, reason: str) -> None:
    """The kill switch: no new order is accepted anywhere until `resume`. Cancels, venue updates
    and fills still are.

    \b
    Example:
      coordinator halt --reason "venue outage, incident 4411"
    """
    response = ops.client.call("Admin", "Halt", admin_pb2.HaltRequest(reason=reason))
    ops.emit({"halted": True, "already": response.duplicate},
             lambda: "trading was already halted" if response.duplicate else "trading halted: no new orders")


@click.command()
@cluster_command
def resume(ops: Operator) -> None:
    """Lift the kill switch.

    \b
    Example:
      coordinator resume
    """
    response = ops.client.call("Admin", "Resume", admin_pb2.ResumeRequest())
    ops.emit({"halted": False, "already": response.duplicate},
             lambda: "trading was not halted" if response.duplicate else "trading resumed")


@click.group()
def risk() -> None:
    """Pre-trade limits, checked inside the state machine for every new order."""


def limits_rows(limits: Any) -> list[dict[str, Any]]:
    return [{"account": s.account, "instrument": s.instrument,
             "order_quantity_max": s.limits.order_quantity_max or None,
             "position_max": s.limits.position_max or None,
             "open_orders_max": s.limits.open_orders_max or None} for s in limits]


def limits_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no limits set"
    return table(["ACCOUNT", "INSTRUMENT", "ORDER_QTY_MAX", "POSITION_MAX", "OPEN_ORDERS_MAX"], [
        [r["account"], r["instrument"], r["order_quantity_max"] or "-", r["position_max"] or "-",
         r["open_orders_max"] or "-"] for r in rows])


@risk.command("set")
@click.option("--account", default="*", show_default=True, help="An account, or * for every account.")
@click.option("--instrument", default="*", show_default=True, help="An instrument, or * for every instrument.")
@click.option("--order-quantity-max", default="", help="Largest quantity of one order (empty: no limit).")
@click.option("--position-max", default="", help="Largest absolute position, open orders included.")
@click.option("--open-orders-max", default=0, help="Most open orders per account (0: no limit).")
@cluster_command
def risk_set(ops: Operator, account: str, instrument: str, order_quantity_max: str, position_max: str,
             open_orders_max: int) -> None:
    """Set the limits of one scope (replacing that scope's limits; all empty removes it).

    \b
    Example:
      coordinator risk set --account ACC1 --instrument BTC-PERP --order-quantity-max 5 --position-max 20
    """
    for name, value in (("--order-quantity-max", order_quantity_max), ("--position-max", position_max)):
        if value:
            try:
                Decimal(value)
            except ArithmeticError:
                raise click.BadParameter(f"{value!r} is not a decimal number", param_hint=name) from None
    response = ops.client.call("Admin", "SetRiskLimits", admin_pb2.SetRiskLimitsRequest(
        account=account, instrument=instrument, limits=types_pb2.RiskLimits(
            order_quantity_max=order_quantity_max, position_max=position_max, open_orders_max=open_orders_max)))
    rows = limits_rows(response.limits)
    ops.emit(rows, lambda: limits_table(rows))


@risk.command("show")
@cluster_command
def risk_show(ops: Operator) -> None:
    """The limits in force, per scope.

    \b
    Example:
      coordinator risk show --json
    """
    rows = limits_rows(ops.client.call("Admin", "GetRiskLimits", admin_pb2.GetRiskLimitsRequest()).limits)
    ops.emit(rows, lambda: limits_table(rows))


@click.group()
def audit() -> None:
    """The audit trail, from a node's stored Raft log."""


@audit.command("export")
@click.option("--from", "from_index", default=0, show_default=True, help="First log index to export.")
@click.option("--node", "node_address", default="", help="The node to read (default: the first reachable one).")
@click.option("--output", type=click.File("w"), default="-", help="Where to write JSON lines (default stdout).")
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
                for batch in stub.ExportAudit(admin_pb2.ExportAuditRequest(from_index=from_index), timeout=300):
                    for e in batch.entries:
                        output.write(json.dumps({
                            "index": e.index, "term": e.term, "issued_at_ns": e.issued_at_ns, "command": e.command,
                            "engine_id": e.engine_id or None, "epoch": e.epoch or None, "outcome": e.outcome or None,
                            "fields": json.loads(e.fields_json) if e.fields_json else {}}) + "\n")
                        count += 1
                click.echo(f"exported {count} entries from {address}", err=True)
                return
        except grpc.RpcError as exc:
            if node_address or address == addresses[-1]:
                raise
            click.echo(f"{address}: {exc.code().name}; trying the next node", err=True)


def register(group: click.Group) -> None:
    for command in (status, members, engines, orders, positions, halt, resume, risk, audit):
        group.add_command(command)


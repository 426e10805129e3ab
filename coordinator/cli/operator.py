"""What every operator command shares: --cluster / COORDINATOR_CLUSTER and --json, a client
with a short retry budget, output as a table or JSON, and the mapping of failures to exit codes.

Every operator command reads the cluster from --cluster or COORDINATOR_CLUSTER (comma-separated
gRPC addresses of any of its nodes), prints a table by default and JSON with --json, and exits
as `operator()` maps its failure (ExitCode: refused, unavailable; click maps usage errors).
Nothing here decides anything for the cluster: the nodes do, and this only asks and reports.
"""

from __future__ import annotations

import datetime
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import grpc

from coordinator.cli.exits import ExitCode
from coordinator.client import CoordinatorClient, Refused, RetryPolicy, Unavailable
from coordinator.client.policy import cause_of, causes_text
from coordinator.core.refusals import Reason
from coordinator.replication.roles import Role
from coordinator.v1 import admin_pb2, admin_pb2_grpc

F = TypeVar("F", bound=Callable[..., Any])
# the proto enum has Role's names
ROLE_NAMES = {admin_pb2.Role.Value(role): role.label for role in Role}


def cluster_command(func: F) -> F:
    """--cluster / COORDINATOR_CLUSTER and --json, plus the exit-code mapping."""

    @click.option(
        "--cluster",
        envvar="COORDINATOR_CLUSTER",
        required=True,
        metavar="ADDRESSES",
        help="gRPC addresses of any nodes, comma-separated (or COORDINATOR_CLUSTER).",
    )
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
    unreachable: dict[str, str]  # address -> why the last status call to it failed

    def connect(self, cluster: str, as_json: bool) -> None:
        try:
            self.client = CoordinatorClient(
                cluster, retry=RetryPolicy(call_timeout_ms=2000, budget_ms=5000)
            )
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        self.as_json = as_json

    def emit(self, document: Any, table: Callable[[], str]) -> None:
        click.echo(json.dumps(document, indent=2, sort_keys=True) if self.as_json else table())

    def statuses(self, timeout_s: float = 1.0) -> dict[str, admin_pb2.StatusResponse | None]:
        """Status of every node: the ones given, plus the members the reachable ones know of."""
        found: dict[str, admin_pb2.StatusResponse | None] = {}
        self.unreachable = {}
        pending = list(self.client.addresses)
        while pending:
            address = pending.pop(0)
            if address in found:
                continue
            try:
                found[address] = status_of(address, timeout_s)
            except grpc.RpcError as exc:
                found[address] = None
                self.unreachable[address] = cause_of(exc)
                continue
            members = found[address].members  # type: ignore[union-attr]
            pending += [m.grpc_address for m in members if m.grpc_address not in found]
        return found

    def leader_status(self) -> admin_pb2.StatusResponse:
        statuses = [s for s in self.statuses().values() if s is not None]
        leaders = [s for s in statuses if s.role == admin_pb2.LEADER]
        if not statuses:
            raise self.no_node_answered()
        if not leaders:
            raise Unavailable(
                "no node reports itself Raft leader (election in progress, or no quorum)", False
            )
        return max(leaders, key=lambda s: s.term)

    def no_node_answered(self) -> Unavailable:
        return Unavailable(f"no node answered: {causes_text(self.unreachable)}", False)


@contextmanager
def operator() -> Iterator[Operator]:
    """Maps failures to the documented exit codes, with a one-line reason."""
    ops = Operator()
    try:
        yield ops
    except Refused as exc:
        click.echo(
            f"refused: {exc.reason}: {exc.message}"
            + (f" (field: {exc.field})" if exc.field else ""),
            err=True,
        )
        # a malformed field is bad input (the operator's to fix), not the cluster saying no
        malformed = exc.reason == Reason.INVALID_COMMAND
        sys.exit(ExitCode.USAGE if malformed else ExitCode.REFUSED)
    except Unavailable as exc:
        click.echo(f"cluster unavailable: {exc}", err=True)
        sys.exit(ExitCode.UNAVAILABLE)
    except grpc.RpcError as exc:
        click.echo(f"cluster unavailable: {exc.code().name}: {exc.details()}", err=True)
        sys.exit(ExitCode.UNAVAILABLE)
    finally:
        client = getattr(ops, "client", None)
        if client is not None:
            client.close()


def status_of(address: str, timeout_s: float = 1.0) -> admin_pb2.StatusResponse:
    with grpc.insecure_channel(address) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)  # type: ignore[no-untyped-call]
        response: admin_pb2.StatusResponse = stub.Status(
            admin_pb2.StatusRequest(), timeout=timeout_s
        )
        return response


def readable(key: str, value: Any) -> str:
    """One value for a person: yes/no, "-" for none, *_at_ns as UTC time to the millisecond."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key.endswith("_at_ns") and isinstance(value, int):
        if value == 0:
            return "-"
        seconds, ns = divmod(value, 1_000_000_000)
        stamp = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
        return f"{stamp:%Y-%m-%dT%H:%M:%S}.{ns // 1_000_000:03d}Z"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)

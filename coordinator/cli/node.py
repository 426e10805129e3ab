"""`coordinator serve`, `config check` and `health`: one node, run, its config file checked, and
its gRPC health asked (for container health checks). The node itself is coordinator/server/node.py;
this only loads its configuration and maps what went wrong to an exit code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from coordinator.cli.exits import ExitCode


@click.command()
@click.option(
    "--join", is_flag=True, default=None, help="node.join: start as a learner for `members add`."
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Node config file (TOML). Flags and COORDINATOR_* variables override it.",
)
@click.option("--id", "node_id", help="node.id")
@click.option("--grpc-address", help="node.grpc_address")
@click.option("--grpc-bind", help="node.grpc_bind")
@click.option("--raft-address", help="node.raft_address (bind)")
@click.option("--raft-advertise", help="node.raft_advertise")
@click.option("--data-dir", help="node.data_dir")
@click.option("--cluster-secret-file", help="node.cluster_secret_file")
@click.option("--metrics-address", help="node.metrics_address")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="node.log_format")
@click.option("--timing-preset", type=click.Choice(["lan", "wan"]), help="timing.preset")
@click.option(
    "--bootstrap",
    is_flag=True,
    envvar="COORDINATOR_BOOTSTRAP",
    help="First start of a new cluster: let this voter create its empty data directory. "
    "Never for a node that lost its data (see docs/operations.md).",
)
def serve(
    config_path: Path | None,
    node_id: str | None,
    timing_preset: str | None,
    join: bool | None,
    bootstrap: bool,
    **node_flags: Any,
) -> None:
    """Run one coordinator node until SIGTERM.

    \b
    Example:
      # first start of a new cluster
      coordinator serve --config /etc/coordinator/node.toml --bootstrap
      coordinator serve --config /etc/coordinator/node.toml               # every start after that
      COORDINATOR_DATA_DIR=/data coordinator serve --config node.toml --log-format json
    """
    from coordinator import config, logs
    from coordinator.server.node import run

    overrides: dict[str, Any] = {f"node.{k}": v for k, v in node_flags.items()}
    overrides["node.id"] = node_id
    overrides["timing.preset"] = timing_preset
    overrides["node.join"] = join
    try:
        cfg = config.load(config_path, overrides)
    except config.ConfigError as exc:
        click.echo(f"coordinator serve: {exc}", err=True)
        sys.exit(ExitCode.USAGE)
    context = logs.configure(cfg.node_id, cfg.log_format)
    sys.exit(ExitCode.OK if run(cfg, log_context=context, bootstrap=bootstrap) else ExitCode.USAGE)


@click.group()
def config() -> None:
    """Node configuration files."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
def config_check(path: Path) -> None:
    """Validate a node config and explain every problem (exit 2 if there is any).

    \b
    Example:
      coordinator config check /etc/coordinator/node.toml
    """
    from coordinator import config as node_config
    from coordinator.server import datadir

    try:
        cfg = node_config.load(path, environ={})
        data_dir_problem = datadir.unusable(cfg.data_dir)
        if data_dir_problem is not None:
            raise node_config.ConfigError([f"node.data_dir: {data_dir_problem}"])
    except node_config.ConfigError as exc:
        click.echo(f"{path}: {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(ExitCode.USAGE)
    click.echo(
        f"{path}: ok (node {cfg.node_id}, {len(cfg.peers)} peers, timing heartbeat "
        f"{cfg.raft.heartbeat_s * 1000:.0f} ms / election "
        f"{cfg.raft.election_min_s * 1000:.0f}-{cfg.raft.election_max_s * 1000:.0f} "
        f"ms{', joins as a learner' if cfg.join else ''})"
    )


@click.command()
@click.option(
    "--address", default="127.0.0.1:7001", show_default=True, help="The node's gRPC address."
)
@click.option("--timeout", "timeout_s", default=2.0, show_default=True)
def health(address: str, timeout_s: float) -> None:
    """Ask one node's standard gRPC health service (for container health checks): exit 0 if it
    is SERVING, 3 otherwise.

    \b
    Example:
      coordinator health --address 127.0.0.1:7001
    """
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    try:
        with grpc.insecure_channel(address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout_s)
    except grpc.RpcError as exc:
        click.echo(f"{address}: {exc.code().name}", err=True)
        sys.exit(ExitCode.UNAVAILABLE)
    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
    click.echo(f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")
    sys.exit(ExitCode.OK if serving else ExitCode.UNAVAILABLE)

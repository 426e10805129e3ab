"""`coordinator serve`, `config check` and `health`: one node, run, its config file checked, and
its gRPC health asked (for container health checks). The node itself is coordinator/server/node.py;
this only loads its configuration and maps what went wrong to an exit code.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from coordinator.cli.exits import ExitCode

if TYPE_CHECKING:
    from coordinator.config import NodeConfig


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
    for warning in cfg.warnings:
        logging.getLogger("coordinator.config").warning("%s", warning)
    sys.exit(ExitCode.OK if run(cfg, log_context=context, bootstrap=bootstrap) else ExitCode.USAGE)


@click.group()
def config() -> None:
    """Node configuration files."""


@config.command("check")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def config_check(path: Path, as_json: bool) -> None:
    """Validate a node config and explain every problem (exit 2 if there is any); warn of what
    is allowed but unsafe, such as a secret file others can read.

    \b
    Example:
      coordinator config check /etc/coordinator/node.toml
      coordinator config check --json node.toml | jq .problems
    """
    from coordinator import config as node_config

    try:
        cfg = node_config.load(path, environ={})
        problems, warnings = _data_dir_problems(cfg), list(cfg.warnings)
    except node_config.ConfigError as exc:
        cfg, problems, warnings = None, exc.problems, []
    if as_json:
        click.echo(json.dumps(_check_document(path, cfg, problems, warnings), indent=2))
    else:
        _print_check(path, cfg, problems, warnings)
    sys.exit(ExitCode.USAGE if problems else ExitCode.OK)


def _data_dir_problems(cfg: NodeConfig) -> list[str]:
    from coordinator.server import datadir

    problem = datadir.unusable(cfg.data_dir)
    return [] if problem is None else [f"node.data_dir: {problem}"]


def _summary(cfg: NodeConfig) -> str:
    return (
        f"node {cfg.node_id}, {len(cfg.peers)} peers, timing heartbeat "
        f"{cfg.raft.heartbeat_s * 1000:.0f} ms / election "
        f"{cfg.raft.election_min_s * 1000:.0f}-{cfg.raft.election_max_s * 1000:.0f} "
        f"ms{', joins as a learner' if cfg.join else ''}"
    )


def _check_document(
    path: Path, cfg: NodeConfig | None, problems: list[str], warnings: list[str]
) -> dict[str, Any]:
    return {
        "path": str(path),
        "ok": not problems,
        "problems": problems,
        "warnings": warnings,
        "node_id": cfg.node_id if cfg and not problems else None,
        "summary": _summary(cfg) if cfg and not problems else None,
    }


def _print_check(
    path: Path, cfg: NodeConfig | None, problems: list[str], warnings: list[str]
) -> None:
    if problems:
        click.echo(f"{path}: {len(problems)} problem(s):", err=True)
        for problem in problems:
            click.echo(f"  - {problem}", err=True)
        return
    assert cfg is not None
    click.echo(f"{path}: ok ({_summary(cfg)})")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)


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

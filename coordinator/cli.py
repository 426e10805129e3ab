"""The `coordinator` command: run a node, drive a cluster, run the demo and the benchmark.

Exit codes, for every command: 0 ok, 1 refused (the cluster said no: a refusal reason),
2 usage or configuration error, 3 cluster unavailable.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from coordinator import __version__

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 0, 1, 2, 3


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="coordinator")
def main() -> None:
    """A Raft-backed failover coordinator for trading execution engines.

    \b
    Exit codes: 0 ok, 1 refused by the cluster, 2 usage or config error, 3 cluster unavailable.
    """


@main.command()
@click.option("--join", is_flag=True, default=None, help="node.join: start as a learner for `members add`.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Node config file (TOML). Flags and COORDINATOR_* variables override it.")
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
@click.option("--bootstrap", is_flag=True, envvar="COORDINATOR_BOOTSTRAP",
              help="First start of a new cluster: let this voter create its empty data directory. Never for a "
                   "node that lost its data (see docs/operations.md).")
def serve(config_path: Path | None, node_id: str | None, timing_preset: str | None, join: bool | None,
          bootstrap: bool, **node_flags: Any) -> None:
    """Run one coordinator node until SIGTERM.

    \b
    Example:
      coordinator serve --config /etc/coordinator/node.toml --bootstrap   # first start of a new cluster
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
        sys.exit(EXIT_USAGE)
    context = logs.configure(cfg.node_id, cfg.log_format)
    sys.exit(run(cfg, log_context=context, bootstrap=bootstrap))


@main.command()
@click.option("--duration", default=10.0, show_default=True, help="Seconds per measured run.")
@click.option("--rounds", default=3, show_default=True, help="Interleaved rounds; medians are reported.")
@click.option("--windows", default="1,8,64", show_default=True, help="In-flight calls per run, comma-separated.")
@click.option("--guards/--no-guards", "compare_guards", default=True, show_default=True,
              help="Also count truncated acknowledged entries with pysyncobj's defect unguarded vs guarded.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bench-results/bench.json"), show_default=True, help="Where to write the report.")
def bench(duration: float, rounds: int, windows: str, compare_guards: bool, json_out: Path) -> None:
    """Measure committed orders/s and latency through gRPC on a local 3-node cluster.

    \b
    Example:
      coordinator bench --duration 10 --rounds 3 --windows 1,8,64
    """
    from coordinator import bench as benchmark

    try:
        window_list = [int(w) for w in windows.split(",") if w.strip()]
    except ValueError:
        raise click.UsageError(f"--windows must be comma-separated integers, got {windows!r}") from None
    benchmark.main(window_list, duration, rounds, compare_guards, json_out)


@main.command()
@click.option("--orders", default=300, show_default=True, help="Orders to stream through the failures.")
@click.option("--ttl-ms", default=500, show_default=True, help="The engines' lease TTL.")
@click.option("--rate", default=40.0, show_default=True, help="Orders per second from the active engine.")
@click.option("--keep-running", is_flag=True, help="Leave the cluster up afterwards for exploration.")
def demo(orders: int, ttl_ms: int, rate: float, keep_running: bool) -> None:
    """Failover end to end on one machine: a 3-node cluster, two engines, a simulated venue.

    \b
    Kills the active engine, pauses the next one past its lease (a zombie that the coordinator
    must fence), then kills the Raft leader node, while orders stream. Exits 0 only if every
    check held (no duplicate at the venue, no acknowledged order lost, epochs increasing, ...).

    \b
    Example:
      coordinator demo
      coordinator demo --orders 1000 --keep-running
    """
    from coordinator.demo.run import main as run_demo

    if orders < 8:
        raise click.UsageError("--orders must be at least 8")
    sys.exit(run_demo(orders=orders, ttl_ms=ttl_ms, rate=rate, keep_running=keep_running))


@main.command("bench-takeover")
@click.option("--count", default=20, show_default=True, help="Takeovers of each kind.")
@click.option("--ttl-ms", default=500, show_default=True, help="The engines' lease TTL.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("bench-results/takeover.json"), show_default=True)
def bench_takeover(count: int, ttl_ms: int, json_out: Path) -> None:
    """Measure failover: engine SIGKILL -> standby granted, and Raft leader SIGKILL -> orders again.

    \b
    Example:
      coordinator bench-takeover --count 20 --ttl-ms 500
    """
    from coordinator.demo.takeovers import main as takeovers

    takeovers(count=count, ttl_ms=ttl_ms, json_out=json_out)


@main.group()
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

    try:
        cfg = node_config.load(path, environ={})
    except node_config.ConfigError as exc:
        click.echo(f"{path}: {len(exc.problems)} problem(s):", err=True)
        for problem in exc.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{path}: ok (node {cfg.node_id}, {len(cfg.peers)} peers, timing "
               f"heartbeat {cfg.raft.heartbeat_s * 1000:.0f} ms / election "
               f"{cfg.raft.election_min_s * 1000:.0f}-{cfg.raft.election_max_s * 1000:.0f} ms"
               f"{', joins as a learner' if cfg.join else ''})")


@main.command()
@click.option("--address", default="127.0.0.1:7001", show_default=True, help="The node's gRPC address.")
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
        sys.exit(EXIT_UNAVAILABLE)
    serving = answer.status == health_pb2.HealthCheckResponse.SERVING
    click.echo(f"{address}: {health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)}")
    sys.exit(EXIT_OK if serving else EXIT_UNAVAILABLE)


from coordinator.cli_cluster import register  # noqa: E402 (the operator commands, in their own module)

register(main)

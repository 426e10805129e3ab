"""`coordinator bench` and `bench-takeover`: throughput, latency, CPU per order and failover
time, measured on local clusters (coordinator/bench/, coordinator/demo/takeovers.py). This module
only parses options."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import grpc

from coordinator.cli.exits import ExitCode

INTERRUPTED = 130  # the shell's code for a command ended by SIGINT


def comma_list(
    choices: tuple[str, ...] = (), low: int = 1, high: int = 1_000_000
) -> Callable[[click.Context, click.Parameter, str], tuple[Any, ...]]:
    """An option callback: comma-separated values, each one of `choices` or, without choices,
    an integer in [low, high]; none repeated. Raises click.BadParameter (exit 2) otherwise."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> tuple[Any, ...]:
        items = [item.strip() for item in value.split(",") if item.strip()]
        if not items:
            raise click.BadParameter(f"expected a comma-separated list, got {value!r}")
        if len(set(items)) != len(items):
            raise click.BadParameter(f"{value!r} names a value twice")
        if choices:
            unknown = [item for item in items if item not in choices]
            if unknown:
                raise click.BadParameter(f"{unknown[0]!r} is not one of {', '.join(choices)}")
            return tuple(items)
        for item in items:
            if not item.isdigit() or not low <= int(item) <= high:
                raise click.BadParameter(f"{item!r} is not an integer from {low} to {high}")
        return tuple(int(item) for item in items)

    return parse


@click.command()
@click.option(
    "--mode",
    "modes",
    callback=comma_list(choices=("unary", "stream")),
    default="unary,stream",
    show_default=True,
    help="Order paths to measure, comma-separated: unary (SubmitOrder), stream (OrderStream).",
)
@click.option(
    "--clients",
    callback=comma_list(high=1024),
    default="1,32",
    show_default=True,
    help="Closed-loop clients per run, comma-separated (one run per value).",
)
@click.option(
    "--in-flight",
    "in_flight",
    callback=comma_list(high=4096),
    default="1",
    show_default=True,
    help="Orders each client keeps in flight, comma-separated (one run per value).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0.1, max=3600),
    default=3.0,
    show_default=True,
    help="Seconds per measured run.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1, max=100),
    default=2,
    show_default=True,
    help="Interleaved rounds; medians are reported.",
)
@click.option(
    "--compare",
    type=click.Choice(["etcd"]),
    default=None,
    help="Also drive a local 3-member etcd cluster the same way (needs scripts/install-etcd).",
)
@click.option(
    "--guards/--no-guards",
    default=False,
    show_default=True,
    help="Also count acknowledged entries truncated with pysyncobj's defect unguarded vs "
    "guarded (two more clusters, --duration each).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/bench.json"),
    show_default=True,
    help="Where to write the report.",
)
def bench(
    modes: tuple[str, ...],
    clients: tuple[int, ...],
    in_flight: tuple[int, ...],
    duration: float,
    rounds: int,
    compare: str | None,
    guards: bool,
    json_out: Path,
) -> None:
    """Measure committed orders/s, latency and CPU per order of the unary and stream order
    paths on a local 3-node cluster, optionally beside a local 3-member etcd cluster.

    Progress goes to stderr, the table of medians to stdout, every run to the JSON report.
    docs/performance.md describes the method.

    \b
    Example:
      coordinator bench --mode unary,stream --clients 1,32 --in-flight 1 \\
          --duration 3 --rounds 2 --compare etcd
    """
    from coordinator.bench import etcd
    from coordinator.bench.run import BenchSettings, main

    etcd_binary = None
    if compare == "etcd":
        etcd_binary = etcd.find_etcd()
        if etcd_binary is None:
            click.echo(
                f"--compare etcd: etcd is not installed (not on PATH); run {etcd.INSTALL_HINT}",
                err=True,
            )
            sys.exit(ExitCode.USAGE)
    settings = BenchSettings(
        modes=modes,
        clients=clients,
        in_flight=in_flight,
        duration_s=duration,
        rounds=rounds,
        etcd_binary=etcd_binary,
        guards=guards,
        json_path=json_out,
    )
    try:
        main(settings)
    except (RuntimeError, TimeoutError, OSError, grpc.RpcError) as exc:
        click.echo(f"bench failed: {exc}", err=True)
        sys.exit(ExitCode.UNAVAILABLE)
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("bench interrupted; the clusters it started are stopped", err=True)
        sys.exit(INTERRUPTED)


@click.command("bench-takeover")
@click.option("--count", default=20, show_default=True, help="Takeovers of each kind.")
@click.option("--ttl-ms", default=500, show_default=True, help="The engines' lease TTL.")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/takeover.json"),
    show_default=True,
)
def bench_takeover(count: int, ttl_ms: int, json_out: Path) -> None:
    """Measure failover: engine SIGKILL -> standby granted, and Raft leader SIGKILL -> orders again.

    \b
    Example:
      coordinator bench-takeover --count 20 --ttl-ms 500
    """
    from coordinator.demo.takeovers import main as takeovers

    takeovers(count=count, ttl_ms=ttl_ms, json_out=json_out)

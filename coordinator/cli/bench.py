"""`coordinator bench` and `bench-takeover`: throughput, latency and failover time, measured on
local clusters (coordinator/bench.py, coordinator/demo/takeovers.py)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--duration", default=10.0, show_default=True, help="Seconds per measured run.")
@click.option(
    "--rounds", default=3, show_default=True, help="Interleaved rounds; medians are reported."
)
@click.option(
    "--windows",
    default="1,8,64",
    show_default=True,
    help="In-flight calls per run, comma-separated.",
)
@click.option(
    "--guards/--no-guards",
    "compare_guards",
    default=True,
    show_default=True,
    help="Also count truncated acknowledged entries with pysyncobj's defect unguarded vs guarded.",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("bench-results/bench.json"),
    show_default=True,
    help="Where to write the report.",
)
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
        raise click.UsageError(
            f"--windows must be comma-separated integers, got {windows!r}"
        ) from None
    benchmark.main(window_list, duration, rounds, compare_guards, json_out)


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

"""`coordinator demo`: failover end to end on one machine (coordinator/demo/run.py)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option(
    "--orders", default=300, show_default=True, help="Orders to stream through the failures."
)
@click.option("--ttl-ms", default=500, show_default=True, help="The engines' lease TTL.")
@click.option(
    "--rate", default=40.0, show_default=True, help="Orders per second from the active engine."
)
@click.option(
    "--keep-running", is_flag=True, help="Leave the cluster up afterwards for exploration."
)
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

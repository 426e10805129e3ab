"""The `coordinator` command: run a node, drive a cluster, run the demo and the benchmark.

One module per command group; this one only gathers them under `main` (the console script
and `python -m coordinator`). The exit codes of every command are `exits.ExitCode`.
"""

from __future__ import annotations

import click

from coordinator import __version__
from coordinator.cli import audit, bench, demo, engines, members, node, orders, risk, status
from coordinator.cli.exits import summary


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    help=f"A Raft-backed failover coordinator for trading execution engines.\n\n"
    f"\b\nExit codes: {summary()}.",
)
@click.version_option(__version__, prog_name="coordinator")
def main() -> None:
    """The top-level group (its help, above, lists the exit codes from ExitCode)."""


for command in (
    node.serve,
    node.config,
    node.health,
    bench.bench,
    bench.bench_takeover,
    demo.demo,
    status.status,
    members.members,
    engines.engines,
    orders.orders,
    orders.positions,
    risk.halt,
    risk.resume,
    risk.risk,
    audit.audit,
):
    main.add_command(command)

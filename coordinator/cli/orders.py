"""`coordinator orders` and `coordinator positions`: the order book and the net positions, read
through the Raft leader, printed in the shapes of coordinator/wire/rows.py."""

from __future__ import annotations

from typing import Any

import click

from coordinator.cli.operator import Operator, cluster_command, readable, table
from coordinator.wire.rows import fill_row, order_row, position_row


@click.group()
def orders() -> None:
    """The order book (linearizable reads through the Raft leader)."""


@orders.command("list")
@click.option(
    "--all", "include_closed", is_flag=True, help="Include filled, canceled and rejected orders."
)
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
    rows = [order_row(o) for o in found]
    ops.emit(
        rows,
        lambda: (
            table(
                [
                    "CLIENT_ORDER_ID",
                    "ACCOUNT",
                    "INSTRUMENT",
                    "SIDE",
                    "QTY",
                    "PRICE",
                    "STATUS",
                    "FILLED",
                    "EPOCH",
                    "ENGINE",
                ],
                [
                    [
                        r["client_order_id"],
                        r["account"],
                        r["instrument"],
                        r["side"],
                        r["quantity"],
                        r["price"],
                        r["status"],
                        r["filled_quantity"],
                        r["epoch"],
                        r["engine_id"],
                    ]
                    for r in rows
                ],
            )
            + f"\n{len(rows)} orders"
        ),
    )


@orders.command("get")
@click.argument("client_order_id")
@cluster_command
def orders_get(ops: Operator, client_order_id: str) -> None:
    """One order by client_order_id.

    \b
    Example:
      coordinator orders get ord-42
    """
    order, fills = ops.client.order_and_fills(client_order_id)
    row, fill_rows = order_row(order), [fill_row(f) for f in fills]
    ops.emit({**row, "fills": fill_rows}, lambda: order_text(row, fill_rows))


def order_text(order: dict[str, Any], fills: list[dict[str, Any]]) -> str:
    """The order's fields, one per line (times as `created_at`), then its fills as a table."""
    lines = [f"{key.removesuffix('_ns'):<20}{readable(key, value)}" for key, value in order.items()]
    fill_table = table(
        ["FILL_ID", "QUANTITY", "PRICE", "EPOCH", "ENGINE", "FILLED_AT"],
        [
            [
                *(f[key] for key in ("fill_id", "quantity", "price", "epoch", "engine_id")),
                readable("filled_at_ns", f["filled_at_ns"]),
            ]
            for f in fills
        ],
    )
    return "\n".join(lines) + f"\n\n{fill_table}\n{len(fills)} fills"


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
    rows = [position_row(p) for p in ops.client.positions(account=account, instrument=instrument)]
    ops.emit(
        rows,
        lambda: table(
            ["ACCOUNT", "INSTRUMENT", "QUANTITY", "AVG_PRICE", "REALIZED_PNL"],
            [
                [
                    r["account"],
                    r["instrument"],
                    r["quantity"],
                    r["average_price"],
                    r["realized_pnl"],
                ]
                for r in rows
            ],
        ),
    )

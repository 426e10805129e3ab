"""`coordinator orders` and `coordinator positions`: the order book and the net positions, read
through the Raft leader, printed in the shapes of coordinator/wire/rows.py."""

from __future__ import annotations

import click

from coordinator.cli.operator import Operator, cluster_command, table
from coordinator.wire.rows import order_row, position_row


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
    order = order_row(ops.client.get_order(client_order_id))
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

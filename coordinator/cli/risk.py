"""`coordinator halt`, `resume` and `risk`: the pre-trade controls (the kill switch and the
limits), which the state machine checks for every new order."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import click

from coordinator.cli.operator import Operator, cluster_command, table
from coordinator.v1 import admin_pb2, types_pb2


@click.command()
@click.option("--reason", required=True, help="Why trading stops (shown to everyone who asks).")
@cluster_command
def halt(ops: Operator, reason: str) -> None:
    """The kill switch: no new order is accepted anywhere until `resume`. Cancels, venue updates
    and fills still are.

    \b
    Example:
      coordinator halt --reason "venue outage, incident 4411"
    """
    response = ops.client.call("Admin", "Halt", admin_pb2.HaltRequest(reason=reason))
    ops.emit(
        {"halted": True, "already": response.duplicate},
        lambda: (
            "trading was already halted" if response.duplicate else "trading halted: no new orders"
        ),
    )


@click.command()
@cluster_command
def resume(ops: Operator) -> None:
    """Lift the kill switch.

    \b
    Example:
      coordinator resume
    """
    response = ops.client.call("Admin", "Resume", admin_pb2.ResumeRequest())
    ops.emit(
        {"halted": False, "already": response.duplicate},
        lambda: "trading was not halted" if response.duplicate else "trading resumed",
    )


@click.group()
def risk() -> None:
    """Pre-trade limits, checked inside the state machine for every new order."""


def limits_rows(limits: Any) -> list[dict[str, Any]]:
    return [
        {
            "account": s.account,
            "instrument": s.instrument,
            "order_quantity_max": s.limits.order_quantity_max or None,
            "position_max": s.limits.position_max or None,
            "open_orders_max": s.limits.open_orders_max or None,
        }
        for s in limits
    ]


def limits_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "no limits set"
    return table(
        ["ACCOUNT", "INSTRUMENT", "ORDER_QTY_MAX", "POSITION_MAX", "OPEN_ORDERS_MAX"],
        [
            [
                r["account"],
                r["instrument"],
                r["order_quantity_max"] or "-",
                r["position_max"] or "-",
                r["open_orders_max"] or "-",
            ]
            for r in rows
        ],
    )


@risk.command("set")
@click.option(
    "--account", default="*", show_default=True, help="An account, or * for every account."
)
@click.option(
    "--instrument", default="*", show_default=True, help="An instrument, or * for every instrument."
)
@click.option(
    "--order-quantity-max", default="", help="Largest quantity of one order (empty: no limit)."
)
@click.option("--position-max", default="", help="Largest absolute position, open orders included.")
@click.option("--open-orders-max", default=0, help="Most open orders per account (0: no limit).")
@cluster_command
def risk_set(
    ops: Operator,
    account: str,
    instrument: str,
    order_quantity_max: str,
    position_max: str,
    open_orders_max: int,
) -> None:
    """Set the limits of one scope (replacing that scope's limits; all empty removes it).

    \b
    Example:
      coordinator risk set --account ACC1 --instrument BTC-PERP \
        --order-quantity-max 5 --position-max 20
    """
    for name, value in (
        ("--order-quantity-max", order_quantity_max),
        ("--position-max", position_max),
    ):
        if value:
            try:
                Decimal(value)
            except ArithmeticError:
                raise click.BadParameter(
                    f"{value!r} is not a decimal number", param_hint=name
                ) from None
    response = ops.client.call(
        "Admin",
        "SetRiskLimits",
        admin_pb2.SetRiskLimitsRequest(
            account=account,
            instrument=instrument,
            limits=types_pb2.RiskLimits(
                order_quantity_max=order_quantity_max,
                position_max=position_max,
                open_orders_max=open_orders_max,
            ),
        ),
    )
    rows = limits_rows(response.limits)
    ops.emit(rows, lambda: limits_table(rows))


@risk.command("show")
@cluster_command
def risk_show(ops: Operator) -> None:
    """The limits in force, per scope.

    \b
    Example:
      coordinator risk show --json
    """
    rows = limits_rows(
        ops.client.call("Admin", "GetRiskLimits", admin_pb2.GetRiskLimitsRequest()).limits
    )
    ops.emit(rows, lambda: limits_table(rows))

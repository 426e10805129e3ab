"""Pre-trade risk: which limits apply to an order, and whether it breaks one.

Limits are set per scope (account or "*", instrument or "*"). Each limit field is resolved on
its own from the most specific scope that sets it: (account, instrument), (account, *),
(*, instrument), (*, *). Exposure counts open orders as if they filled completely, so a burst
of orders cannot together exceed the position limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from coordinator.core.model import ANY, RiskLimits, Side
from coordinator.core.numbers import CONTEXT, format_decimal
from coordinator.core.refusals import RiskLimit


@dataclass(slots=True)
class Exposure:
    """Open (unfilled) quantity per side for one (account, instrument). Derived state."""

    buy_open: Decimal
    sell_open: Decimal


def resolve_limits(
    table: dict[tuple[str, str], RiskLimits], account: str, instrument: str
) -> RiskLimits:
    """The effective limits for an order on (account, instrument)."""
    scopes = [
        table.get(key)
        for key in ((account, instrument), (account, ANY), (ANY, instrument), (ANY, ANY))
    ]
    found = [s for s in scopes if s is not None]

    def first(name: str) -> object:
        for limits in found:
            value = getattr(limits, name)
            if value is not None:
                return value
        return None

    return RiskLimits(
        order_quantity_max=first("order_quantity_max"),  # type: ignore[arg-type]
        position_max=first("position_max"),  # type: ignore[arg-type]
        open_orders_max=first("open_orders_max"),  # type: ignore[arg-type]
    )


def check_order(
    limits: RiskLimits,
    *,
    side: Side,
    quantity: Decimal,
    position: Decimal,
    exposure: Exposure,
    open_orders: int,
) -> None:
    """Refuses (RiskLimit, naming the limit) an order that would break one of `limits`.

    `position` is the current net position, `exposure` the open orders on the same
    (account, instrument) and `open_orders` the account's count of open orders.
    """
    if limits.order_quantity_max is not None and quantity > limits.order_quantity_max:
        raise RiskLimit(
            f"order quantity {format_decimal(quantity)} exceeds order_quantity_max "
            f"{format_decimal(limits.order_quantity_max)}",
            "quantity",
        )
    if limits.open_orders_max is not None and open_orders + 1 > limits.open_orders_max:
        raise RiskLimit(
            f"account already has {open_orders} open orders; open_orders_max is "
            f"{limits.open_orders_max}",
            "account",
        )
    if limits.position_max is not None:
        if side is Side.BUY:
            worst = CONTEXT.add(CONTEXT.add(position, exposure.buy_open), quantity)
        else:
            worst = CONTEXT.minus(
                CONTEXT.subtract(CONTEXT.subtract(position, exposure.sell_open), quantity)
            )
        if worst > limits.position_max:
            raise RiskLimit(
                f"worst-case position {format_decimal(worst)} would exceed position_max "
                f"{format_decimal(limits.position_max)}",
                "quantity",
            )

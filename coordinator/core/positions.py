"""Position arithmetic: how one fill moves a net position. The one place it is written.

A position is the fold of its fills in log order (Invariant 6). Increasing a position moves
the average entry price; reducing it realizes PnL against that average; crossing zero closes
the old side and opens the remainder at the fill price.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from decimal import Decimal

from coordinator.core.model import Position, Side
from coordinator.core.numbers import CONTEXT, ZERO, canonical


def apply_fill(position: Position, side: Side, quantity: Decimal, price: Decimal) -> Position:
    """Returns the position after a fill of `quantity` at `price` on `side`."""
    assert quantity > 0 and price > 0
    held = position.quantity
    signed = quantity if side is Side.BUY else -quantity
    new_quantity = CONTEXT.add(held, signed)
    if held == 0 or (held > 0) == (signed > 0):
        cost = CONTEXT.add(
            CONTEXT.multiply(abs(held), position.average_price), CONTEXT.multiply(quantity, price)
        )
        average = CONTEXT.divide(cost, abs(new_quantity))
        return replace(position, quantity=canonical(new_quantity), average_price=canonical(average))
    closed = min(abs(held), quantity)
    direction = 1 if held > 0 else -1
    pnl = CONTEXT.multiply(
        CONTEXT.multiply(closed, CONTEXT.subtract(price, position.average_price)),
        Decimal(direction),
    )
    if new_quantity == 0:
        average = ZERO
    elif (new_quantity > 0) == (held > 0):
        average = position.average_price
    else:
        average = price
    return replace(
        position,
        quantity=canonical(new_quantity),
        average_price=canonical(average),
        realized_pnl=canonical(CONTEXT.add(position.realized_pnl, pnl)),
    )


def fold_fills(
    account: str, instrument: str, fills: Iterable[tuple[Side, Decimal, Decimal]]
) -> Position:
    """A position recomputed from scratch from (side, quantity, price) fills in log order."""
    position = Position.flat(account, instrument)
    for side, quantity, price in fills:
        position = apply_fill(position, side, quantity, price)
    return position


def average_fill_price(
    filled: Decimal, average: Decimal | None, quantity: Decimal, price: Decimal
) -> Decimal:
    """An order's average fill price after one more fill."""
    if average is None or filled == 0:
        return canonical(price)
    cost = CONTEXT.add(CONTEXT.multiply(filled, average), CONTEXT.multiply(quantity, price))
    return canonical(CONTEXT.divide(cost, CONTEXT.add(filled, quantity)))

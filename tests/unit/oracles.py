"""Independent oracles for the property tests: what a position and the effective risk limits
should be, recomputed from scratch in plain code that shares nothing with coordinator/core.
Tests only.

An oracle that called the core's own arithmetic would agree with any bug in it, so these use
exact rational arithmetic (`Fraction`) and their own statement of each rule. They import only
the core's value types, never its functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from coordinator.core.model import Position, RiskLimits, ScopedRiskLimits, Side

# The core rounds an average price to 34 significant digits (prec 34, decimal128), and a
# realized PnL inherits that rounding. Below this bound a difference is rounding; a real bug
# is off by at least a product of a tick and a lot (0.5 x 0.5 with the values drawn here).
ROUNDING_TOLERANCE = Fraction(1, 10**20)
WILDCARD = "*"  # a scope's account or instrument that matches every one
LIMIT_FIELDS = ("order_quantity_max", "position_max", "open_orders_max")


@dataclass(frozen=True)
class ExactPosition:
    """A net position computed without rounding."""

    quantity: Fraction  # signed: positive long, negative short
    average_price: Fraction  # of the open quantity; zero when flat
    realized_pnl: Fraction


def position_from_fills(fills: Iterable[tuple[Side, Decimal, Decimal]]) -> ExactPosition:
    """The position after (side, quantity, price) fills in log order.

    Each fill is taken in two parts:
    1. Against an opposite position it first closes as much as it can, min(|held|, quantity),
       realizing (price - average) per unit closed of a long and (average - price) per unit
       closed of a short. The average of what stays open does not change; flat means average 0.
    2. What is left of the fill opens or adds on the fill's side, and the average becomes the
       quantity-weighted mean of the open quantity's average and the fill price.
    """
    held, average, pnl = Fraction(0), Fraction(0), Fraction(0)
    for side, quantity, price in fills:
        direction = 1 if side is Side.BUY else -1
        remaining, at = Fraction(quantity), Fraction(price)
        if held * direction < 0:
            closing = min(abs(held), remaining)
            pnl += closing * (at - average) * -direction
            held += direction * closing
            remaining -= closing
            if held == 0:
                average = Fraction(0)
        if remaining > 0:
            average = (abs(held) * average + remaining * at) / (abs(held) + remaining)
            held += direction * remaining
    return ExactPosition(held, average, pnl)


def position_differences(actual: Position, expected: ExactPosition) -> list[str]:
    """What differs between the core's position and the exact one: the quantity must be equal,
    the average price and realized PnL equal within ROUNDING_TOLERANCE. Empty when they agree."""
    problems = []
    if Fraction(actual.quantity) != expected.quantity:
        problems.append(f"quantity {actual.quantity}, expected {float(expected.quantity)}")
    for name in ("average_price", "realized_pnl"):
        got, want = Fraction(getattr(actual, name)), getattr(expected, name)
        if abs(got - want) > ROUNDING_TOLERANCE:
            problems.append(f"{name} {getattr(actual, name)}, expected {float(want)} ({want})")
    return problems


def effective_limits(
    scoped: Iterable[ScopedRiskLimits], account: str, instrument: str
) -> RiskLimits:
    """The limits that apply to an order on (account, instrument).

    The rule (core/risk.py, restated): each field is resolved on its own, from the most specific
    scope that sets it, in this order: (account, instrument), then (account, "*"), then
    ("*", instrument), then ("*", "*"). A scope that leaves a field unset (None) does not hide a
    less specific scope's value for that field; a field no matching scope sets is None (no limit).
    """
    table = {(s.account, s.instrument): s.limits for s in scoped}
    least_specific_first = [
        (WILDCARD, WILDCARD),
        (WILDCARD, instrument),
        (account, WILDCARD),
        (account, instrument),
    ]
    effective: dict[str, object] = dict.fromkeys(LIMIT_FIELDS)
    for scope in least_specific_first:  # a later, more specific scope overrides what it sets
        limits = table.get(scope)
        for name in LIMIT_FIELDS:
            value = None if limits is None else getattr(limits, name)
            if value is not None:
                effective[name] = value
    return RiskLimits(**effective)  # type: ignore[arg-type]

"""Decimal arithmetic for quantities, prices and money: parsing, bounds and canonical text.

Quantities and prices are never floats. Every computation the state machine does runs in the
one `CONTEXT` below, so that every node (whatever its process-wide decimal context) computes
bit-identical results, and every stored value is canonical, so that the state digest does not
depend on how a client spelled "1.50".
"""

from __future__ import annotations

import decimal
from decimal import Decimal

from coordinator.core.refusals import InvalidCommand

# 34 significant digits (IEEE decimal128). Inputs are bounded by MAX_INTEGER_DIGITS and
# MAX_FRACTION_DIGITS, so sums and products of a few inputs are exact; only averages round.
CONTEXT = decimal.Context(
    prec=34,
    rounding=decimal.ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)
MAX_INTEGER_DIGITS = 15
MAX_FRACTION_DIGITS = 12
ZERO = Decimal(0)


def parse_decimal(field: str, text: str, *, positive: bool = True) -> Decimal:
    """Parses a wire decimal string into a canonical Decimal.

    Refuses (InvalidCommand naming `field`) anything that is not a plain finite decimal within
    the bounds, and zero or negative values when `positive`.
    """
    if not isinstance(text, str) or not text or len(text) > 64:
        raise InvalidCommand(f"{field} must be a decimal string, got {text!r}", field)
    stripped = text.strip()
    if stripped != text or "e" in text.lower() or "_" in text:
        raise InvalidCommand(f"{field} must be a plain decimal like '12.5', got {text!r}", field)
    try:
        value = Decimal(text)
    except decimal.InvalidOperation:
        raise InvalidCommand(f"{field} is not a decimal number: {text!r}", field) from None
    if not value.is_finite():
        raise InvalidCommand(f"{field} must be finite, got {text!r}", field)
    check_bounds(field, value, positive=positive)
    return canonical(value)


def check_bounds(field: str, value: Decimal, *, positive: bool = True) -> None:
    """Refuses values outside the digit bounds, and non-positive ones when `positive`."""
    if positive and value <= 0:
        raise InvalidCommand(
            f"{field} must be greater than zero, got {format_decimal(value)}", field
        )
    if not positive and value < 0:
        raise InvalidCommand(f"{field} must not be negative, got {format_decimal(value)}", field)
    _sign, digits, exponent = canonical(value).as_tuple()
    assert isinstance(exponent, int)
    fraction_digits = max(0, -exponent)
    integer_digits = max(0, len(digits) + exponent)
    if fraction_digits > MAX_FRACTION_DIGITS:
        raise InvalidCommand(
            f"{field} has {fraction_digits} decimal places; at most {MAX_FRACTION_DIGITS}", field
        )
    if integer_digits > MAX_INTEGER_DIGITS:
        raise InvalidCommand(
            f"{field} is too large: at most {MAX_INTEGER_DIGITS} integer digits", field
        )


def canonical(value: Decimal) -> Decimal:
    """The one representation of a number: no trailing zeros, no negative zero."""
    if value == 0:
        return ZERO
    return value.normalize(CONTEXT)


def format_decimal(value: Decimal) -> str:
    """Wire and snapshot text of a number: plain notation ('100', '0.25', '-3')."""
    return format(canonical(value), "f")


def decimal_from_snapshot(text: str) -> Decimal:
    """Parses a value written by `format_decimal` (already canonical text, so it is not
    normalized again: Decimal("100") and the normalized Decimal("1E+2") are equal and format
    identically)."""
    return Decimal(text)

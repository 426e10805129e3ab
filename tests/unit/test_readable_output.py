"""What an operator or an engine developer reads: enum members print as their names, an order's
fills are kept with it, and `orders get` prints words and times, not Python values."""

from __future__ import annotations

from decimal import Decimal

from coordinator.cli.orders import order_text
from coordinator.core.model import OrderStatus, Side
from coordinator.core.state import CoordinatorState
from coordinator.wire.rows import fill_row, order_row
from tests.unit.builders import Harness, campaign, fill, submit


def test_sides_and_statuses_print_as_their_names_and_still_compare_as_wire_numbers() -> None:
    assert (str(Side.BUY), f"{OrderStatus.PENDING_NEW}") == ("BUY", "PENDING_NEW")
    assert f"{OrderStatus.FILLED:>8}" == "  FILLED"
    assert (Side.BUY == 1, OrderStatus.PENDING_NEW == 1) == (True, True)


def filled_twice() -> Harness:
    h = Harness()
    h(campaign())
    h(submit("o1", quantity="3"))
    h(submit("o2"))
    h(fill("f1", "o1", quantity="1", price="100"))
    h(fill("f2", "o2", quantity="1", price="101"))
    h(fill("f3", "o1", quantity="2", price="102"))
    return h


def test_an_orders_fills_are_kept_with_it_in_log_order_across_a_snapshot() -> None:
    h = filled_twice()
    for state in (h.state, CoordinatorState.restore(h.state.snapshot())):
        assert [f.fill_id for f in state.fills_of("o1")] == ["f1", "f3"]
        assert [f.quantity for f in state.fills_of("o1")] == [Decimal(1), Decimal(2)]
        assert [f.fill_id for f in state.fills_of("o2")] == ["f2"]
        assert state.fills_of("nope") == []


def test_orders_get_prints_names_yes_no_dashes_utc_times_and_each_fill() -> None:
    h = filled_twice()
    order = h.state.order("o1")
    assert order is not None
    text = order_text(order_row(order), [fill_row(f) for f in h.state.fills_of("o1")])
    assert "None" not in text and "False" not in text and "True" not in text, text
    assert "status              FILLED" in text, text
    assert "cancel_requested    no" in text and "venue_order_id      -" in text, text
    assert "created_at          2023-11-14T22:13:20.002Z" in text, text
    assert str(order.created_at_ns) not in text, text
    fills = text.split("\n\n")[1].splitlines()
    assert fills[0].split() == ["FILL_ID", "QUANTITY", "PRICE", "EPOCH", "ENGINE", "FILLED_AT"]
    assert fills[1].split()[:3] == ["f1", "1", "100"] and fills[2].split()[:3] == ["f3", "2", "102"]
    assert fills[-1] == "2 fills"

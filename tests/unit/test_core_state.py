"""Example tests of the state machine, one rule each (DESIGN.md, "The fencing protocol")."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coordinator.core.commands import Barrier, Expire, Halt, RequestHandoff, Resume, SetRiskLimits
from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.core.refusals import Reason
from coordinator.core.results import (
    Ack,
    CampaignResult,
    FillResult,
    LeaseResult,
    OrderResult,
    Refused,
)
from coordinator.core.state import CoordinatorState
from tests.unit.builders import Harness, campaign, cancel, fill, keep_alive, resign, submit, update


@pytest.fixture
def h() -> Harness:
    harness = Harness()
    granted = harness(campaign("e1", "r1"))
    assert isinstance(granted, CampaignResult) and granted.granted and granted.epoch == 1
    return harness


def refused(result: object, reason: Reason, field: str | None = None) -> None:
    assert isinstance(result, Refused), result
    assert result.reason is reason, result
    if field is not None:
        assert result.field == field, result


def assert_refused_and_unchanged(h: Harness, command: object, reason: Reason) -> None:
    before = h.state.snapshot()
    refused(h(command), reason)
    assert h.state.snapshot() == before


# ------------------------------------------------------------------ leadership and epochs


def test_first_campaign_is_granted_epoch_one_with_an_empty_book() -> None:
    h = Harness()
    result = h(campaign("e1", "r1", ttl_ms=500))
    assert result == CampaignResult(
        granted=True, epoch=1, holder_id="e1", ttl_ms=500, duplicate=False
    )


def test_campaign_while_held_is_not_granted_and_names_the_holder(h: Harness) -> None:
    before = h.state.leadership()
    result = h(campaign("e2", "r9", ttl_ms=800))
    assert result == CampaignResult(
        granted=False, epoch=1, holder_id="e1", ttl_ms=500, duplicate=False
    )
    assert h.state.leadership() == before  # only recorded as a live standby, for a hand-off


def test_campaign_by_the_holder_with_a_new_request_is_not_a_new_grant(h: Harness) -> None:
    result = h(campaign("e1", "r2"))
    assert isinstance(result, CampaignResult) and not result.granted and result.holder_id == "e1"
    assert h.state.leadership().epoch == 1


def test_retried_campaign_returns_the_stored_grant_marked_duplicate(h: Harness) -> None:
    h(submit("o1"))
    result = h(campaign("e1", "r1"))
    assert isinstance(result, CampaignResult)
    assert (result.granted, result.epoch, result.duplicate) == (True, 1, True)
    assert [o.client_order_id for o in result.open_orders] == ["o1"]


def test_retried_campaign_with_another_ttl_is_an_idempotency_conflict(h: Harness) -> None:
    assert_refused_and_unchanged(h, campaign("e1", "r1", ttl_ms=900), Reason.IDEMPOTENCY_CONFLICT)


def test_grant_after_expiry_has_a_higher_epoch_and_the_whole_open_book(h: Harness) -> None:
    h(submit("o1"))
    h(submit("o2"))
    h(update("o2", OrderStatus.REJECTED, reason="no"))
    h(fill("f1", "o1", quantity="0.4"))
    assert h(Expire(1, 0)) == Ack(epoch=1)
    result = h(campaign("e2", "r1"))
    assert isinstance(result, CampaignResult) and result.granted and result.epoch == 2
    assert [o.client_order_id for o in result.open_orders] == ["o1"]
    assert result.open_orders[0].filled_quantity == Decimal("0.4")
    assert [(p.account, p.instrument, p.quantity) for p in result.positions] == [
        ("A1", "BTC-USD", Decimal("0.4"))
    ]


def test_keep_alive_renews_and_counts_the_renewal(h: Harness) -> None:
    assert h(keep_alive("e1", 1)) == LeaseResult(epoch=1, ttl_ms=500, lease_seq=1, handoff_to="")
    lease = h.state.leadership().holder
    assert lease is not None and lease.lease_seq == 1


def test_keep_alive_with_a_stale_epoch_is_refused_and_changes_nothing(h: Harness) -> None:
    h(Expire(1, 0))
    h(campaign("e2", "r1"))
    assert_refused_and_unchanged(h, keep_alive("e1", 1), Reason.STALE_EPOCH)


def test_expire_frees_the_role_only_for_the_lease_it_timed(h: Harness) -> None:
    h(keep_alive("e1", 1))
    assert_refused_and_unchanged(h, Expire(1, 0), Reason.STALE_EPOCH)
    assert h(Expire(1, 1)) == Ack(epoch=1)
    assert h.state.leadership().holder is None


def test_expire_of_an_old_epoch_cannot_free_a_newer_grant(h: Harness) -> None:
    h(resign("e1", 1))
    h(campaign("e2", "r1"))
    assert_refused_and_unchanged(h, Expire(1, 0), Reason.STALE_EPOCH)


def test_resign_frees_the_role_at_once_and_the_next_campaign_is_granted(h: Harness) -> None:
    assert h(resign("e1", 1)) == Ack(epoch=1)
    result = h(campaign("e2", "r1"))
    assert isinstance(result, CampaignResult) and result.granted and result.epoch == 2


def test_retried_resign_is_a_duplicate_not_a_refusal(h: Harness) -> None:
    h(resign("e1", 1))
    assert h(resign("e1", 1)) == Ack(duplicate=True, epoch=1)


def test_resign_by_a_non_holder_is_refused(h: Harness) -> None:
    assert_refused_and_unchanged(h, resign("e2", 1), Reason.NOT_HOLDER)


def test_resign_with_a_successor_reserves_the_next_grant_for_it(h: Harness) -> None:
    h(resign("e1", 1, successor="e3"))
    other = h(campaign("e2", "r1"))
    assert isinstance(other, CampaignResult) and not other.granted and other.holder_id == ""
    successor = h(campaign("e3", "r1"))
    assert isinstance(successor, CampaignResult) and successor.granted and successor.epoch == 2


def test_a_hand_off_reservation_lapses_after_the_resigned_ttl(h: Harness) -> None:
    h(resign("e1", 1, successor="e3"))
    result = h(campaign("e2", "r1"), advance_ms=501)
    assert isinstance(result, CampaignResult) and result.granted


def test_requested_hand_off_is_announced_in_keep_alives(h: Harness) -> None:
    h(campaign("e2", "r1"))  # a live standby: it campaigns while e1 holds
    assert h(RequestHandoff("e2")) == Ack(epoch=1)
    result = h(keep_alive("e1", 1))
    assert isinstance(result, LeaseResult) and result.handoff_to == "e2"


def test_a_hand_off_to_an_engine_that_never_campaigned_is_refused_and_trading_goes_on(
    h: Harness,
) -> None:
    """Issue 14, item 2: `engines handoff --to` a mistyped name made the holder resign for an
    engine that does not exist, and nobody traded until the command was killed."""
    h(campaign("e2", "r1"))
    result = h(RequestHandoff("e-typo"))
    refused(result, Reason.INVALID_COMMAND, "to_engine_id")
    assert isinstance(result, Refused) and "live standbys: e2" in result.message, result
    keep = h(keep_alive("e1", 1))
    assert isinstance(keep, LeaseResult) and keep.handoff_to == ""


def test_a_hand_off_to_a_standby_not_seen_within_its_ttl_is_refused(h: Harness) -> None:
    h(campaign("e2", "r1", ttl_ms=500))
    h(keep_alive("e1", 1), advance_ms=400)
    assert h(RequestHandoff("e2")) == Ack(epoch=1)  # seen 400 ms ago, within its 500 ms TTL
    h(campaign("e3", "r1", ttl_ms=500))
    h(keep_alive("e1", 1), advance_ms=501)
    result = h(RequestHandoff("e3"))
    refused(result, Reason.INVALID_COMMAND, "to_engine_id")
    assert isinstance(result, Refused) and "no live standby" in result.message, result


def test_live_standbys_survive_a_snapshot(h: Harness) -> None:
    h(campaign("e2", "r1"))
    restored = Harness()
    restored.state = CoordinatorState.restore(h.state.snapshot())
    restored.clock = h.clock
    assert restored(RequestHandoff("e2")) == Ack(epoch=1)
    refused(restored(RequestHandoff("e-typo")), Reason.INVALID_COMMAND, "to_engine_id")


def test_hand_off_with_nobody_holding_is_refused() -> None:
    h = Harness()
    refused(h(RequestHandoff("e2")), Reason.NOT_HOLDER)


# ----------------------------------------------------------------------------- fencing


def test_submit_with_stale_epoch_is_refused_and_changes_nothing(h: Harness) -> None:
    h(resign("e1", 1))
    h(campaign("e2", "r1"))
    assert_refused_and_unchanged(h, submit("o9", engine="e1", epoch=1), Reason.STALE_EPOCH)


def test_submit_by_a_non_holder_with_the_current_epoch_is_refused(h: Harness) -> None:
    assert_refused_and_unchanged(h, submit("o9", engine="e2", epoch=1), Reason.NOT_HOLDER)


def test_submit_after_the_lease_expired_is_refused_even_with_the_last_epoch(h: Harness) -> None:
    h(Expire(1, 0))
    assert_refused_and_unchanged(h, submit("o9", epoch=1), Reason.STALE_EPOCH)


@pytest.mark.parametrize(
    "write",
    [
        lambda: update("o1", engine="e1", epoch=1),
        lambda: cancel("o1", engine="e1", epoch=1),
        lambda: fill("f9", "o1", engine="e1", epoch=1),
    ],
)
def test_every_engine_write_is_fenced(h: Harness, write: object) -> None:
    h(submit("o1"))
    h(resign("e1", 1))
    h(campaign("e2", "r1"))
    assert_refused_and_unchanged(h, write(), Reason.STALE_EPOCH)  # type: ignore[operator]


# ----------------------------------------------------------------------- orders


def test_submit_records_a_pending_new_order(h: Harness) -> None:
    result = h(submit("o1", quantity="2.50", price="101.10", side=Side.SELL))
    assert isinstance(result, OrderResult) and not result.duplicate
    order = result.order
    assert (order.status, order.quantity, order.price, order.side) == (
        OrderStatus.PENDING_NEW,
        Decimal("2.5"),
        Decimal("101.1"),
        Side.SELL,
    )
    assert (order.epoch, order.engine_id) == (1, "e1")


def test_retried_submit_yields_one_order_marked_duplicate(h: Harness) -> None:
    first = h(submit("o1"))
    again = h(submit("o1", quantity="1.000"))
    assert isinstance(first, OrderResult) and isinstance(again, OrderResult)
    assert again.duplicate and again.order == first.order
    assert len(h.state.orders()) == 1


def test_retried_submit_by_the_next_engine_after_takeover_is_a_duplicate(h: Harness) -> None:
    h(submit("o1"))
    h(resign("e1", 1))
    h(campaign("e2", "r1"))
    again = h(submit("o1", engine="e2", epoch=2))
    assert isinstance(again, OrderResult) and again.duplicate and again.order.epoch == 1


def test_reusing_a_client_order_id_for_another_order_is_an_idempotency_conflict(h: Harness) -> None:
    h(submit("o1"))
    assert_refused_and_unchanged(h, submit("o1", price="99"), Reason.IDEMPOTENCY_CONFLICT)


def test_venue_ack_reject_and_cancel_move_the_order(h: Harness) -> None:
    h(submit("o1"))
    h(submit("o2"))
    h(submit("o3"))
    ack = h(update("o1", OrderStatus.OPEN, venue_id="V1"))
    assert (
        isinstance(ack, OrderResult)
        and ack.order.status is OrderStatus.OPEN
        and ack.order.venue_order_id == "V1"
    )
    rejected = h(update("o2", OrderStatus.REJECTED, venue_id="", reason="price band"))
    assert isinstance(rejected, OrderResult) and rejected.order.reject_reason == "price band"
    h(cancel("o3"))
    canceled = h(update("o3", OrderStatus.CANCELED, venue_id="V3"))
    assert isinstance(canceled, OrderResult) and canceled.order.status is OrderStatus.CANCELED


def test_repeated_venue_ack_is_a_duplicate(h: Harness) -> None:
    h(submit("o1"))
    h(update("o1", OrderStatus.OPEN, venue_id="V1"))
    again = h(update("o1", OrderStatus.OPEN, venue_id="V1"))
    assert isinstance(again, OrderResult) and again.duplicate


def test_a_different_venue_order_id_for_the_same_order_is_a_conflict(h: Harness) -> None:
    h(submit("o1"))
    h(update("o1", OrderStatus.OPEN, venue_id="V1"))
    assert_refused_and_unchanged(
        h, update("o1", OrderStatus.OPEN, venue_id="V2"), Reason.IDEMPOTENCY_CONFLICT
    )


@pytest.mark.parametrize(
    ("setup", "reported"),
    [
        ("filled", OrderStatus.CANCELED),
        ("filled", OrderStatus.REJECTED),
        ("rejected", OrderStatus.OPEN),
        ("canceled", OrderStatus.OPEN),
        ("open", OrderStatus.REJECTED),
    ],
)
def test_illegal_venue_transitions_are_refused_and_change_nothing(
    h: Harness, setup: str, reported: OrderStatus
) -> None:
    h(submit("o1"))
    if setup == "filled":
        h(fill("f1", "o1"))
    elif setup == "rejected":
        h(update("o1", OrderStatus.REJECTED, venue_id=""))
    elif setup == "canceled":
        h(update("o1", OrderStatus.CANCELED))
    else:
        h(update("o1", OrderStatus.OPEN))
    assert_refused_and_unchanged(h, update("o1", reported), Reason.ILLEGAL_TRANSITION)


def test_updating_an_unknown_order_is_refused(h: Harness) -> None:
    assert_refused_and_unchanged(h, update("nope"), Reason.UNKNOWN_ORDER)


def test_cancel_marks_the_request_and_a_retry_is_a_duplicate(h: Harness) -> None:
    h(submit("o1"))
    first = h(cancel("o1"))
    again = h(cancel("o1"))
    assert isinstance(first, OrderResult) and first.order.cancel_requested and not first.duplicate
    assert isinstance(again, OrderResult) and again.duplicate


def test_cancel_of_a_filled_order_is_an_illegal_transition(h: Harness) -> None:
    h(submit("o1"))
    h(fill("f1", "o1"))
    assert_refused_and_unchanged(h, cancel("o1"), Reason.ILLEGAL_TRANSITION)


# ------------------------------------------------------------------------ fills


def test_fills_move_the_order_and_the_position(h: Harness) -> None:
    h(submit("o1", quantity="3", price="100"))
    first = h(fill("f1", "o1", quantity="1", price="100"))
    second = h(fill("f2", "o1", quantity="2", price="103"))
    assert isinstance(first, FillResult) and first.order.status is OrderStatus.PARTIALLY_FILLED
    assert isinstance(second, FillResult) and second.order.status is OrderStatus.FILLED
    assert second.order.average_fill_price == Decimal("102")
    assert (second.position.quantity, second.position.average_price) == (Decimal(3), Decimal(102))


def test_a_retried_fill_counts_once(h: Harness) -> None:
    h(submit("o1", quantity="3"))
    h(fill("f1", "o1", quantity="1"))
    again = h(fill("f1", "o1", quantity="1"))
    assert isinstance(again, FillResult) and again.duplicate
    assert again.position.quantity == Decimal(1) and len(h.state.fills()) == 1


def test_a_fill_id_reused_for_another_fill_is_a_conflict(h: Harness) -> None:
    h(submit("o1", quantity="3"))
    h(fill("f1", "o1", quantity="1"))
    assert_refused_and_unchanged(h, fill("f1", "o1", quantity="2"), Reason.IDEMPOTENCY_CONFLICT)


def test_a_fill_beyond_the_remaining_quantity_is_an_overfill(h: Harness) -> None:
    h(submit("o1", quantity="1"))
    assert_refused_and_unchanged(h, fill("f1", "o1", quantity="1.5"), Reason.OVERFILL)


def test_selling_through_zero_realizes_pnl_and_flips_the_position(h: Harness) -> None:
    h(submit("b", quantity="2", price="100"))
    h(fill("f1", "b", quantity="2", price="100"))
    h(submit("s", quantity="3", price="110", side=Side.SELL))
    result = h(fill("f2", "s", quantity="3", price="110"))
    assert isinstance(result, FillResult)
    p = result.position
    assert (p.quantity, p.average_price, p.realized_pnl) == (Decimal(-1), Decimal(110), Decimal(20))


# --------------------------------------------------------------- risk and the halt


def test_orders_are_refused_while_halted_but_cancels_and_fills_still_apply(h: Harness) -> None:
    h(submit("o1", quantity="2"))
    assert h(Halt("venue outage")) == Ack()
    assert_refused_and_unchanged(h, submit("o2"), Reason.HALTED)
    assert isinstance(h(cancel("o1")), OrderResult)
    assert isinstance(h(fill("f1", "o1")), FillResult)
    assert h(Resume()) == Ack()
    assert isinstance(h(submit("o2")), OrderResult)


def test_a_retried_submit_of_an_accepted_order_is_answered_while_halted(h: Harness) -> None:
    h(submit("o1"))
    h(Halt("stop"))
    again = h(submit("o1"))
    assert isinstance(again, OrderResult) and again.duplicate


def test_halt_twice_and_resume_twice_are_duplicates(h: Harness) -> None:
    h(Halt("a"))
    assert h(Halt("b")) == Ack(duplicate=True)
    assert h.state.halt_reason == "a"
    h(Resume())
    assert h(Resume()) == Ack(duplicate=True)


def test_order_quantity_limit_refuses_a_larger_order(h: Harness) -> None:
    h(SetRiskLimits("*", "*", RiskLimits(order_quantity_max=Decimal(5))))
    assert isinstance(h(submit("o1", quantity="5")), OrderResult)
    assert_refused_and_unchanged(h, submit("o2", quantity="5.01"), Reason.RISK_LIMIT)


def test_position_limit_counts_open_orders_as_if_filled(h: Harness) -> None:
    h(SetRiskLimits("A1", "BTC-USD", RiskLimits(position_max=Decimal(10))))
    h(submit("o1", quantity="6"))
    h(fill("f1", "o1", quantity="2"))
    assert_refused_and_unchanged(h, submit("o2", quantity="5"), Reason.RISK_LIMIT)
    assert isinstance(h(submit("o3", quantity="4")), OrderResult)
    assert isinstance(h(submit("o4", quantity="12", side=Side.SELL)), OrderResult)
    assert_refused_and_unchanged(h, submit("o5", quantity="0.1", side=Side.SELL), Reason.RISK_LIMIT)


def test_open_orders_limit_is_per_account(h: Harness) -> None:
    h(SetRiskLimits("A1", "*", RiskLimits(open_orders_max=2)))
    h(submit("o1"))
    h(submit("o2"))
    assert_refused_and_unchanged(h, submit("o3"), Reason.RISK_LIMIT)
    assert isinstance(h(submit("o4", account="A2")), OrderResult)
    h(update("o1", OrderStatus.CANCELED))
    assert isinstance(h(submit("o3")), OrderResult)


def test_most_specific_scope_wins_field_by_field(h: Harness) -> None:
    h(SetRiskLimits("*", "*", RiskLimits(order_quantity_max=Decimal(1), open_orders_max=5)))
    h(SetRiskLimits("A1", "*", RiskLimits(order_quantity_max=Decimal(3))))
    assert isinstance(h(submit("o1", quantity="3")), OrderResult)
    assert_refused_and_unchanged(h, submit("o2", quantity="2", account="A2"), Reason.RISK_LIMIT)


def test_setting_empty_limits_removes_the_scope(h: Harness) -> None:
    h(SetRiskLimits("A1", "", RiskLimits(order_quantity_max=Decimal(1))))
    assert [s.account for s in h.state.risk_limits()] == ["A1"]
    h(SetRiskLimits("A1", "*", RiskLimits()))
    assert h.state.risk_limits() == []


# ------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (lambda: submit("", quantity="1"), "client_order_id"),
        (lambda: submit("o 1"), "client_order_id"),
        (lambda: submit("o1", quantity="0"), "quantity"),
        (lambda: submit("o1", quantity="-1"), "quantity"),
        (lambda: submit("o1", price="0.0000000000001"), "price"),
        (lambda: submit("o1", account="x" * 129), "account"),
        (lambda: campaign("e1", "r1", ttl_ms=10), "ttl_ms"),
        (lambda: Halt(""), "reason"),
        (lambda: SetRiskLimits("A1", "*", RiskLimits(open_orders_max=0)), "open_orders_max"),
    ],
)
def test_bad_input_is_invalid_command_naming_the_field_and_changes_nothing(
    h: Harness, command: object, field: str
) -> None:
    before = h.state.snapshot()
    refused(h(command()), Reason.INVALID_COMMAND, field)  # type: ignore[operator]
    assert h.state.snapshot() == before


def test_an_unknown_command_type_is_refused_not_raised(h: Harness) -> None:
    refused(h(object()), Reason.INVALID_COMMAND)


# ------------------------------------------------------------ time and snapshots


def test_leader_time_never_goes_backwards_in_the_state(h: Harness) -> None:
    late = h.clock.now_ns
    result = h.state.apply(submit("o1"), late - 10_000_000_000)
    assert isinstance(result, OrderResult) and result.order.created_at_ns == late


def test_barrier_changes_nothing(h: Harness) -> None:
    before = h.state.snapshot()
    assert h(Barrier()) == Ack()
    assert h.state.snapshot() == before


def test_snapshot_restore_round_trip_keeps_digest_and_derived_indexes(h: Harness) -> None:
    h(SetRiskLimits("A1", "*", RiskLimits(open_orders_max=3, position_max=Decimal("7.5"))))
    h(submit("o1", quantity="2"))
    h(submit("o2", quantity="1.5", side=Side.SELL))
    h(fill("f1", "o1", quantity="1"))
    h(Halt("drill"))
    restored = CoordinatorState.restore(h.state.snapshot())
    assert restored.digest() == h.state.digest()
    assert restored.orders(open_only=True) == h.state.orders(open_only=True)
    assert restored._exposure == h.state._exposure and restored._open_count == h.state._open_count


def test_restore_refuses_garbage_with_a_snapshot_error() -> None:
    from coordinator.core.snapshot_codec import SnapshotError

    for data in (b"", b"{", b"[]", b'{"format": 99}', b'{"format": 1}'):
        with pytest.raises(SnapshotError):
            CoordinatorState.restore(data)


@pytest.mark.parametrize("prec", [3, 28])
def test_risk_and_order_arithmetic_do_not_depend_on_the_threads_decimal_context(prec: int) -> None:
    """Issue 8, defect 9: the worst-case position and an order's remaining quantity were computed
    in the thread's decimal context, so a node whose context differs (prec=3: 1000 + 1 = 1.00E+3)
    could accept an order that every other node refuses."""
    import decimal

    from coordinator.core.model import Order
    from coordinator.core.risk import Exposure, check_order

    limits = RiskLimits(position_max=Decimal(1000))
    with (
        decimal.localcontext(decimal.Context(prec=prec)),
        pytest.raises(Exception, match="position_max"),
    ):
        check_order(
            limits,
            side=Side.BUY,
            quantity=Decimal(1),
            position=Decimal(1000),
            exposure=Exposure(Decimal(0), Decimal(0)),
            open_orders=0,
        )
    order = Order(
        "o1",
        "A1",
        "BTC-USD",
        Side.BUY,
        Decimal("1000.5"),
        Decimal(1),
        OrderStatus.OPEN,
        Decimal("0.5"),
        None,
        "",
        False,
        1,
        "e1",
        1,
        1,
        "",
    )
    with decimal.localcontext(decimal.Context(prec=prec)):
        assert order.remaining_quantity == Decimal(1000)

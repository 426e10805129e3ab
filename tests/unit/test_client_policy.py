"""The client's pure decisions (client/policy.py): what to retry, the lease arithmetic, the
session's states. A fake clock: times are plain integers of nanoseconds."""

from __future__ import annotations

import pytest

from coordinator.client import errors
from coordinator.client.policy import (
    LEASE_EXPIRED,
    LEASE_RAN_OUT_IN_CALL,
    MS,
    Attempts,
    CampaignDue,
    DemotionDue,
    Denied,
    Elected,
    GiveBack,
    KeepAliveDue,
    ResumeDue,
    RetryPolicy,
    SessionCore,
    SessionState,
    Verdict,
    Wait,
    WriteDenied,
    WriteFailed,
    WritePermit,
    classify,
)
from coordinator.v1 import engine_pb2


@pytest.mark.parametrize(
    ("code", "reason", "verdict"),
    [
        ("FAILED_PRECONDITION", "STALE_EPOCH", Verdict.REFUSED),
        ("ALREADY_EXISTS", "IDEMPOTENCY_CONFLICT", Verdict.REFUSED),
        ("INVALID_ARGUMENT", "INVALID_COMMAND", Verdict.REFUSED),
        ("NOT_FOUND", "UNKNOWN_ORDER", Verdict.REFUSED),
        ("UNAVAILABLE", "NO_QUORUM", Verdict.RETRY_NOT_APPLIED),
        ("RESOURCE_EXHAUSTED", "OVERLOADED", Verdict.RETRY_NOT_APPLIED),
        ("UNAVAILABLE", "OUTCOME_UNKNOWN", Verdict.RETRY_MAYBE_APPLIED),
        ("UNAVAILABLE", "", Verdict.RETRY_MAYBE_APPLIED),  # connection failed mid-call
        ("DEADLINE_EXCEEDED", "", Verdict.RETRY_MAYBE_APPLIED),
    ],
)
def test_failures_are_classified_by_what_they_say_about_the_write(
    code: str, reason: str, verdict: Verdict
) -> None:
    assert classify(code, reason) is verdict


def test_refusals_raise_the_exception_named_like_the_reason() -> None:
    attempts = Attempts(RetryPolicy(), 0, None, lambda: 0.0)
    with pytest.raises(errors.StaleEpoch) as caught:
        attempts.failed(
            "FAILED_PRECONDITION", "STALE_EPOCH", "epoch", "epoch 3 is not current", "n1", 0
        )
    assert (caught.value.reason, caught.value.field) == ("STALE_EPOCH", "epoch")


def test_retries_back_off_exponentially_within_the_budget_then_give_up() -> None:
    policy = RetryPolicy(backoff_initial_ms=10, backoff_max_ms=80, budget_ms=200)
    attempts = Attempts(policy, 0, None, lambda: 0.999)
    delays = []
    now = 0
    while (delay := attempts.failed("UNAVAILABLE", "NO_QUORUM", "", "", "n1", now)) is not None:
        delays.append(round(delay * 1000))
        now += int(delay * 1e9)
    assert delays == [10, 20, 40, 80] and now < 200 * MS
    unavailable = attempts.exhausted("Engine.SubmitOrder")
    assert not unavailable.maybe_applied


def test_a_maybe_applied_failure_is_remembered_in_the_final_error() -> None:
    attempts = Attempts(RetryPolicy(budget_ms=50, backoff_initial_ms=40), 0, None, lambda: 0.0)
    attempts.failed("DEADLINE_EXCEEDED", "", "", "", "n1", 0)
    attempts.failed("UNAVAILABLE", "NO_QUORUM", "", "", "n1", 30 * MS)
    assert attempts.exhausted("x").maybe_applied


def test_no_attempt_is_made_past_the_give_up_time() -> None:
    attempts = Attempts(
        RetryPolicy(call_timeout_ms=2000), 0, give_up_ns=300 * MS, jitter=lambda: 0.0
    )
    assert attempts.timeout_s(100 * MS) == pytest.approx(0.2)
    assert attempts.timeout_s(300 * MS) is None


def active(now: int = 0, ttl_ms: int = 500) -> SessionCore:
    core = SessionCore.for_ttl("e1", ttl_ms)
    assert core.next_action(now) == CampaignDue(now)
    assert core.on_granted(epoch=7, ttl_ms=ttl_ms, sent_ns=now, now_ns=now + 5 * MS)
    return core


def test_the_local_lease_counts_from_the_send_time_and_ends_a_margin_before_the_ttl() -> None:
    core = active(now=1000 * MS)
    assert core.margin_ms == 100 and core.valid_until_ns == 1400 * MS
    assert core.active_epoch(1399 * MS) == 7
    assert core.active_epoch(1400 * MS) is None


def test_keep_alives_are_sent_several_times_per_ttl_and_extend_from_their_send_time() -> None:
    core = active()
    assert core.next_action(50 * MS) == Wait(100 * MS)
    assert core.next_action(100 * MS) == KeepAliveDue(7, 400 * MS)
    core.on_keepalive_ok(7, sent_ns=100 * MS)
    assert core.valid_until_ns == 500 * MS


def test_without_acknowledged_keep_alives_the_session_demotes_itself_at_the_local_deadline() -> (
    None
):
    core = active()
    core.on_keepalive_failed(100 * MS)
    core.on_keepalive_failed(300 * MS)
    assert isinstance(core.next_action(399 * MS), KeepAliveDue | Wait)
    assert core.next_action(400 * MS) == DemotionDue(LEASE_EXPIRED)
    assert core.demote("lease expired", 400 * MS) is True
    assert core.state is SessionState.STANDBY and core.active_epoch(401 * MS) is None


def test_a_grant_that_arrives_after_its_local_lease_is_not_acted_on() -> None:
    core = SessionCore.for_ttl("e1", 500)
    assert not core.on_granted(epoch=3, ttl_ms=500, sent_ns=0, now_ns=450 * MS)
    assert core.state is SessionState.STANDBY
    assert core.next_action(450 * MS) == Wait(575 * MS)  # backs off: a standby may do better


def test_demotion_fires_once_and_a_resigned_session_stays_passive() -> None:
    core = active()
    assert core.demote("resigned", 10 * MS, rejoin=False) is True
    assert core.demote("resigned", 11 * MS, rejoin=False) is False
    assert core.state is SessionState.PASSIVE and isinstance(core.next_action(10_000 * MS), Wait)
    core.resume_standby(20 * MS)
    assert core.next_action(20 * MS) == CampaignDue(20 * MS)


def test_a_standby_campaigns_at_once_when_the_role_frees() -> None:
    core = SessionCore.for_ttl("e2", 500)
    core.on_denied(0)
    assert isinstance(core.next_action(10 * MS), Wait)
    core.on_role_freed(10 * MS)
    assert core.next_action(10 * MS) == CampaignDue(10 * MS)


def test_the_margin_must_be_shorter_than_the_lease() -> None:
    with pytest.raises(AssertionError):
        SessionCore.for_ttl("e1", 500, margin_ms=500)


def test_a_refusal_of_a_call_from_an_earlier_epoch_does_not_demote_a_newer_grant() -> None:
    core = active()
    assert core.on_granted(epoch=8, ttl_ms=500, sent_ns=10 * MS, now_ns=11 * MS)
    assert core.demote("STALE_EPOCH", 12 * MS, epoch=7) is False
    assert core.active_epoch(13 * MS) == 8


def test_the_lease_watch_demotes_exactly_at_the_local_lease_end_and_only_when_active() -> None:
    core = active()
    assert core.lease_watch(399 * MS) == Wait(400 * MS)
    assert core.lease_watch(400 * MS) == DemotionDue(LEASE_EXPIRED)
    core.on_keepalive_ok(7, sent_ns=100 * MS)
    assert core.lease_watch(400 * MS) == Wait(500 * MS)
    core.demote("resigned", 450 * MS)
    assert core.lease_watch(600 * MS) == Wait(1600 * MS)


# ------------------------------------------- what answers mean (shared by both twins)


def answer(granted: bool, epoch: int, holder_id: str) -> engine_pb2.CampaignResponse:
    return engine_pb2.CampaignResponse(
        granted=granted, epoch=epoch, holder_id=holder_id, ttl_ms=500
    )


def test_a_granted_campaign_elects_and_a_late_grant_is_given_back() -> None:
    core = SessionCore.for_ttl("e1", 500)
    assert core.on_campaign_answer(answer(True, 4, "e1"), sent_ns=0, now_ns=5 * MS) == Elected(
        4, 500
    )
    late = SessionCore.for_ttl("e1", 500)
    assert late.on_campaign_answer(answer(True, 5, "e1"), sent_ns=0, now_ns=450 * MS) == GiveBack(5)
    assert late.state is SessionState.STANDBY


def test_our_own_lapsed_epoch_is_resumed_and_anyone_elses_is_denied() -> None:
    core = active()
    core.demote(LEASE_EXPIRED, 400 * MS)
    assert core.on_campaign_answer(
        answer(False, 7, "e1"), sent_ns=500 * MS, now_ns=501 * MS
    ) == ResumeDue(7)
    assert core.on_resumed(7, 500, sent_ns=500 * MS, now_ns=502 * MS) == Elected(7, 500)
    other = SessionCore.for_ttl("e2", 500)
    assert other.on_campaign_answer(answer(False, 7, "e1"), sent_ns=0, now_ns=1 * MS) == Denied()
    assert other.next_action(2 * MS) == Wait(126 * MS)  # campaigns again a quarter TTL later


def test_a_write_is_permitted_only_under_a_live_lease_and_a_lapsed_one_demotes() -> None:
    core = active()
    assert core.permit_write("e1", "SubmitOrder", 100 * MS) == WritePermit(7, 400 * MS)
    denied = core.permit_write("e1", "SubmitOrder", 400 * MS)
    assert isinstance(denied, WriteDenied) and denied.demote_reason == LEASE_EXPIRED
    core.demote(LEASE_EXPIRED, 400 * MS)
    again = core.permit_write("e1", "SubmitOrder", 401 * MS)
    assert (
        isinstance(again, WriteDenied)
        and again.demote_reason is None
        and "was not sent" in str(again.error)
    )


def test_a_fenced_write_demotes_and_a_lease_that_ran_out_in_the_call_becomes_not_active() -> None:
    core, permit = active(), WritePermit(7, 400 * MS)
    stale = errors.StaleEpoch("epoch 7 is not current", "epoch")
    assert core.on_write_failed("SubmitOrder", permit, stale, 10 * MS) == WriteFailed(
        stale, "STALE_EPOCH: epoch 7 is not current"
    )
    busy = errors.OutcomeUnknown("no answer", maybe_applied=True)
    assert core.on_write_failed("SubmitOrder", permit, busy, 10 * MS) == WriteFailed(busy, None)
    lapsed = core.on_write_failed("SubmitOrder", permit, busy, 400 * MS)
    assert isinstance(lapsed.error, errors.NotActive) and lapsed.error.maybe_applied
    assert lapsed.demote_reason == LEASE_RAN_OUT_IN_CALL


def test_a_fenced_keep_alive_demotes_and_any_other_failure_retries_soon() -> None:
    core = active()
    assert (
        core.on_keepalive_error(errors.NoQuorum("no leader", maybe_applied=False), 100 * MS) is None
    )
    assert core.next_keepalive_ns == 150 * MS
    assert (
        core.on_keepalive_error(errors.NotHolder("held by e2"), 120 * MS)
        == "NOT_HOLDER: held by e2"
    )

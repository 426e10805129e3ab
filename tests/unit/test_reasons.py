"""One vocabulary of reasons (issue 9): every reason has a gRPC status, a client exception of the
same CamelCase name, and the client's `classify` means by it what the reason says; every
command's documented `refusals` are the ones `apply` really returns."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import grpc
import pytest

from coordinator.client import errors
from coordinator.client.policy import Attempts, RetryPolicy, Verdict, classify
from coordinator.core import commands as c
from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.core.refusals import Operating, Reason
from coordinator.core.results import Refused
from coordinator.core.state import CoordinatorState
from coordinator.replication import proposals
from coordinator.wire.status import STATUS_OF_REASON

# What each reason says about the write, written out here rather than derived from the code.
MEANING: dict[str, Verdict] = {
    **{reason: Verdict.REFUSED for reason in Reason},
    Operating.NO_QUORUM: Verdict.RETRY_NOT_APPLIED,
    Operating.OVERLOADED: Verdict.RETRY_NOT_APPLIED,
    Operating.OUTCOME_UNKNOWN: Verdict.RETRY_MAYBE_APPLIED,
    Operating.MEMBERSHIP_REFUSED: Verdict.REFUSED,
}
ALL_REASONS = [*Reason, *Operating]


def test_every_reason_has_a_meaning_here_and_a_status_on_the_wire() -> None:
    assert set(MEANING) == set(ALL_REASONS)
    assert set(STATUS_OF_REASON) == set(ALL_REASONS)


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_every_reason_has_a_client_exception_of_the_same_camel_case_name(reason: str) -> None:
    name = "".join(word.title() for word in reason.split("_"))
    cls = getattr(errors, name)
    assert cls.reason == reason
    base = errors.Refused if MEANING[reason] is Verdict.REFUSED else errors.Unavailable
    assert issubclass(cls, base)
    import coordinator.client as library

    assert getattr(library, name) is cls, f"coordinator.client does not export {name}"


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_classify_agrees_with_the_status_table(reason: str) -> None:
    code = STATUS_OF_REASON[reason].name
    assert classify(code, reason) is MEANING[reason]


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_an_engine_that_reads_only_the_status_code_is_never_less_careful(reason: str) -> None:
    """Engines in other languages may branch on the code alone: the code must never make a
    refusal look retryable, nor a maybe-applied write look certainly not applied."""
    by_code = classify(STATUS_OF_REASON[reason].name, "")
    if MEANING[reason] is Verdict.REFUSED:
        assert by_code is Verdict.REFUSED
    else:
        assert by_code is not Verdict.REFUSED
        if MEANING[reason] is Verdict.RETRY_MAYBE_APPLIED:
            assert by_code is Verdict.RETRY_MAYBE_APPLIED


@pytest.mark.parametrize("reason", ALL_REASONS)
def test_a_failed_call_raises_the_exception_of_its_reason(reason: str) -> None:
    attempts = Attempts(RetryPolicy(max_attempts=1), 0, None, lambda: 0.0)
    code = STATUS_OF_REASON[reason].name
    if MEANING[reason] is Verdict.REFUSED:
        with pytest.raises(errors.Refused) as refused:
            attempts.failed(code, reason, "field", "no", "n1", 0)
        assert type(refused.value).reason == reason and refused.value.field == "field"
        return
    assert attempts.failed(code, reason, "", "busy", "n1", 0) is None
    final = attempts.exhausted("Engine.SubmitOrder")
    assert type(final).reason == reason
    assert final.maybe_applied is (MEANING[reason] is Verdict.RETRY_MAYBE_APPLIED)


def test_each_proposal_error_names_an_operating_reason_with_a_status() -> None:
    for cls in (
        proposals.NoQuorum,
        proposals.OutcomeUnknown,
        proposals.Overloaded,
        proposals.MembershipRefused,
    ):
        assert cls.reason in STATUS_OF_REASON
        assert (cls.applied is None) is (MEANING[cls.reason] is Verdict.RETRY_MAYBE_APPLIED)
    assert STATUS_OF_REASON[Operating.NO_QUORUM] is grpc.StatusCode.UNAVAILABLE


# ---------------------------------------------------- each command's refusals, as documented

ENGINES = ["e1", "e2", ""]
ORDERS = ["o1", "o2", "o3"]
AMOUNTS = [Decimal("1"), Decimal("2"), Decimal("0"), Decimal("1000"), Decimal("0.5")]


def random_command(rng: random.Random, state: CoordinatorState) -> Any:
    holder = state.leadership().holder
    # mostly the holder's engine and epoch, each on its own, sometimes anything
    epoch = holder.epoch if holder and rng.random() < 0.8 else rng.choice([1, 2, 3, 0])
    engine = holder.engine_id if holder and rng.random() < 0.8 else rng.choice(ENGINES)
    order, amount, price = rng.choice(ORDERS), rng.choice(AMOUNTS), rng.choice(AMOUNTS[:2])
    makers: list[Any] = [
        lambda: c.Campaign(engine, rng.choice([500, 800, 5]), rng.choice(["r1", "r2", "r3"])),
        lambda: c.KeepAlive(engine, epoch),
        lambda: c.Expire(epoch, rng.randint(0, 3)),
        lambda: c.Resign(engine, epoch, rng.choice(["", "e2", engine])),
        lambda: c.RequestHandoff(rng.choice(ENGINES)),
        lambda: c.SubmitOrder(
            engine,
            epoch,
            order,
            rng.choice(["A", "B"]),
            "BTC",
            rng.choice(list(Side)),
            amount,
            price,
        ),
        lambda: c.UpdateOrder(
            engine, epoch, order, rng.choice(list(OrderStatus)), rng.choice(["", "v1", "v2"])
        ),
        lambda: c.CancelOrder(engine, epoch, order),
        lambda: c.ReportFill(
            engine, epoch, rng.choice(["f1", "f2", "f3", "f4"]), order, amount, price
        ),
        lambda: c.SetRiskLimits(
            rng.choice(["", "A"]),
            "",
            RiskLimits(rng.choice([None, Decimal("1")]), None, rng.choice([None, 1, 0])),
        ),
        lambda: c.Halt(rng.choice(["", "ops"])),
        lambda: c.Resume(),
        lambda: c.Barrier(),
    ]
    return rng.choice(makers)()


def test_every_command_is_refused_only_for_the_reasons_it_documents() -> None:
    seen: dict[type, set[str]] = {}
    for seed in range(8):
        rng, state, now = random.Random(seed), CoordinatorState(), 1_000_000_000
        for _ in range(1500):
            command = random_command(rng, state)
            now += rng.choice([1, 50, 400]) * 1_000_000
            result = state.apply(command, now)
            if isinstance(result, Refused):
                assert result.reason in type(command).refusals, (
                    f"{command} refused with {result.reason}"
                )
                seen.setdefault(type(command), set()).add(result.reason)
    for kind in (
        c.Campaign,
        c.KeepAlive,
        c.Expire,
        c.Resign,
        c.RequestHandoff,
        c.SubmitOrder,
        c.UpdateOrder,
        c.CancelOrder,
        c.ReportFill,
        c.SetRiskLimits,
        c.Halt,
        c.Resume,
        c.Barrier,
    ):
        assert seen.get(kind, set()) == set(kind.refusals), (
            f"{kind.__name__} documents a refusal never seen"
        )

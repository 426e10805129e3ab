"""The benchmark's load driver (coordinator/bench/load.py): nearest-rank percentiles, and a
closed loop that keeps K requests in flight per client, counts every failure, and ends at its
deadline even when a server never answers."""

from __future__ import annotations

import asyncio
import math

import pytest

from coordinator.bench import load
from coordinator.bench.load import (
    Latency,
    LoadShape,
    OrderFailed,
    Tally,
    drive,
    latency_ms,
    percentile,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert [percentile(values, f) for f in (0.25, 0.5, 0.75, 0.99, 1.0)] == [1, 2, 3, 4, 4]
    hundred = [float(v) for v in range(1, 101)]
    assert (percentile(hundred, 0.5), percentile(hundred, 0.9), percentile(hundred, 0.99)) == (
        50,
        90,
        99,
    )
    # p99.9 of 1,000 values is the 999th, not the largest
    thousand = [float(v) for v in range(1, 1001)]
    assert percentile(thousand, 0.999) == 999


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 0.5))


def test_latency_is_reported_in_milliseconds() -> None:
    seconds = [v / 1000 for v in range(1, 1001)]  # 1 ms .. 1000 ms
    assert latency_ms(seconds) == Latency(p50=500.0, p90=900.0, p99=990.0, p999=999.0, max=1000.0)


class Answering:
    """A session answering after `delay_s`; refuses every index in `refused`."""

    def __init__(self, delay_s: float = 0.0, refused: frozenset[int] = frozenset()) -> None:
        self.delay_s = delay_s
        self.refused = refused
        self.sent: list[int] = []
        self.in_flight = 0
        self.in_flight_max = 0

    async def send(self, index: int) -> None:
        self.sent.append(index)
        self.in_flight += 1
        self.in_flight_max = max(self.in_flight_max, self.in_flight)
        try:
            await asyncio.sleep(self.delay_s)
        finally:
            self.in_flight -= 1
        if index in self.refused:
            raise OrderFailed(f"FAILED_PRECONDITION: refused {index % 2}")

    async def close(self) -> None:
        pass


def test_each_client_keeps_k_requests_in_flight_with_indices_unique_per_client() -> None:
    sessions = [Answering(0.002), Answering(0.002)]
    shape = LoadShape(clients=2, in_flight=3, duration_s=0.2)
    record = asyncio.run(drive(sessions, shape, Tally()))
    for session in sessions:
        assert session.in_flight_max == 3
        assert len(set(session.sent)) == len(session.sent)
    assert record.committed == sum(len(s.sent) for s in sessions)
    assert record.errors == 0 and record.error_texts == ()
    assert record.orders_per_s == pytest.approx(record.committed / record.seconds, rel=0.01)
    assert record.latency_ms.p50 >= 2.0


def test_failures_are_counted_and_a_few_distinct_texts_kept() -> None:
    session = Answering(0.001, refused=frozenset(range(0, 100_000, 2)))
    record = asyncio.run(drive([session], LoadShape(1, 1, duration_s=0.1), Tally()))
    assert record.errors == len([i for i in session.sent if i % 2 == 0])
    assert record.committed == len(session.sent) - record.errors
    assert record.error_texts == ("FAILED_PRECONDITION: refused 0",)


def test_only_the_first_distinct_error_texts_are_kept() -> None:
    tally = Tally()
    for i in range(20):
        tally.fail(f"error {i % 7}")
    assert tally.errors == 20
    assert tally.error_texts == [f"error {i}" for i in range(load.ERROR_TEXTS_KEPT)]


def test_a_lane_stops_after_its_error_budget() -> None:
    class Refusing:
        async def send(self, index: int) -> None:
            raise OrderFailed("UNIMPLEMENTED: Method not implemented!")

        async def close(self) -> None:
            pass

    shape = LoadShape(1, 2, duration_s=30.0, errors_per_lane_max=7)
    record = asyncio.run(asyncio.wait_for(drive([Refusing()], shape, Tally()), 5))
    assert (record.committed, record.errors) == (0, 14)
    assert record.error_texts == ("UNIMPLEMENTED: Method not implemented!",)


def test_a_server_that_never_answers_ends_the_run_at_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "DRAIN_GRACE_S", 0.1)

    class Silent:
        async def send(self, index: int) -> None:
            await asyncio.Event().wait()

        async def close(self) -> None:
            pass

    shape = LoadShape(2, 2, duration_s=0.1, call_timeout_s=0.1)
    record = asyncio.run(asyncio.wait_for(drive([Silent(), Silent()], shape, Tally()), 5))
    assert record.seconds < 1.0
    assert (record.committed, record.errors) == (0, 4)
    assert record.error_texts == (
        "a lane was still waiting for an answer at the deadline: cancelled",
    )
    assert math.isnan(record.latency_ms.p50)

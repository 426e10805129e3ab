"""The load generator: N closed-loop clients, each keeping K requests in flight against one
server, for a fixed time; and the latency percentiles of what it measured.

The driver is the same for every system measured (the coordinator's unary and stream paths,
etcd's put), so that only the `OrderSession` differs between two rows of the report. It runs in
one process on asyncio, which carries far more requests per core than threads do
(../shared/research/performance.md). Every loop is bounded in count and time: a lane stops at
the end of the window, after `orders_per_lane_max` requests or `errors_per_lane_max` errors, and
the whole run is cancelled `call_timeout_s + DRAIN_GRACE_S` after the window closed, so a failing
run ends and never hangs.

This module never starts processes or opens channels; sessions come opened from the caller.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import grpc

# Time given to the requests still in flight when the window closes, beyond one call timeout.
DRAIN_GRACE_S = 5.0
# How many distinct error texts a run keeps (the count is always exact).
ERROR_TEXTS_KEPT = 5


class OrderSession(Protocol):
    """One client's connection to the system measured (a channel, or a stream on one)."""

    async def send(self, index: int) -> None:
        """Sends request `index` (unique within this session) and returns once it is answered
        with success. Raises on any failure, a refusal included; returns within the session's
        own call timeout."""

    async def close(self) -> None:
        """Ends the session; returns within a few seconds whatever state it is in."""


@dataclass(frozen=True)
class LoadShape:
    """What one measured run asks of the driver."""

    clients: int
    in_flight: int
    duration_s: float
    call_timeout_s: float = 10.0
    orders_per_lane_max: int = 10_000_000
    errors_per_lane_max: int = 100

    def __post_init__(self) -> None:
        assert self.clients >= 1 and self.in_flight >= 1, self
        assert self.duration_s > 0 and self.call_timeout_s > 0, self


class OrderFailed(Exception):
    """A request the system answered with an error (the text says which)."""


@dataclass
class Tally:
    """What a run has seen so far; the progress display reads it while the run goes on."""

    committed: int = 0
    errors: int = 0
    latencies_s: list[float] = field(default_factory=list)
    error_texts: list[str] = field(default_factory=list)

    def commit(self, latency_s: float) -> None:
        self.committed += 1
        self.latencies_s.append(latency_s)

    def fail(self, text: str) -> None:
        self.errors += 1
        if len(self.error_texts) < ERROR_TEXTS_KEPT and text not in self.error_texts:
            self.error_texts.append(text)


@dataclass(frozen=True)
class Latency:
    """Latency percentiles of one run, in milliseconds (NaN when nothing committed)."""

    p50: float
    p90: float
    p99: float
    p999: float
    max: float


@dataclass(frozen=True)
class LoadRecord:
    """One measured run: `seconds` runs from the first request to the last answer (the drain
    included), and `orders_per_s` is `committed / seconds`."""

    seconds: float
    committed: int
    errors: int
    error_texts: tuple[str, ...]
    latency_ms: Latency
    orders_per_s: float


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `fraction` of the values at
    or below it (so p50 of [1, 2, 3, 4] is 2 and p100 is the max). NaN for no values.
    Precondition: 0 < fraction <= 1."""
    assert 0 < fraction <= 1, fraction
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def latency_ms(latencies_s: Sequence[float]) -> Latency:
    """p50, p90, p99, p99.9 and max of `latencies_s`, in milliseconds rounded to the µs."""
    ordered = sorted(latencies_s)

    def at(fraction: float) -> float:
        return round(percentile(ordered, fraction) * 1000, 3)

    return Latency(at(0.5), at(0.9), at(0.99), at(0.999), at(1.0))


def describe(exc: BaseException) -> str:
    """A short text for an error, the same for every occurrence of the same failure (so the
    distinct texts a run keeps are few): a gRPC status code and its details, or the exception."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, OrderFailed):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def lane(
    session: OrderSession, first: int, step: int, shape: LoadShape, stop_at: float, tally: Tally
) -> None:
    """One request in flight at a time on `session`, back to back until `stop_at`; request
    indices are first, first + step, ... so that the lanes of one session never share one."""
    index = first
    sent = errors = 0
    while (
        time.monotonic() < stop_at
        and sent < shape.orders_per_lane_max
        and errors < shape.errors_per_lane_max
    ):
        sent += 1
        started = time.perf_counter()
        try:
            await session.send(index)
        except Exception as exc:
            errors += 1
            tally.fail(describe(exc))
        else:
            tally.commit(time.perf_counter() - started)
        index += step


async def drive(sessions: Sequence[OrderSession], shape: LoadShape, tally: Tally) -> LoadRecord:
    """Runs `shape.in_flight` lanes on each of `sessions` for `shape.duration_s` and waits for
    the answers still in flight; returns what was measured. A lane still busy
    `call_timeout_s + DRAIN_GRACE_S` after the window closed is cancelled and counted as one
    error. Precondition: `len(sessions) == shape.clients`."""
    assert len(sessions) == shape.clients, (len(sessions), shape)
    started = time.monotonic()
    stop_at = started + shape.duration_s
    tasks = [
        asyncio.create_task(lane(session, k, shape.in_flight, shape, stop_at, tally))
        for session in sessions
        for k in range(shape.in_flight)
    ]
    _, stuck = await asyncio.wait(
        tasks, timeout=shape.duration_s + shape.call_timeout_s + DRAIN_GRACE_S
    )
    for task in stuck:
        task.cancel()
    await asyncio.gather(*stuck, return_exceptions=True)
    seconds = time.monotonic() - started
    for _ in stuck:
        tally.fail("a lane was still waiting for an answer at the deadline: cancelled")
    for task in tasks:
        # a lane records every failure of a request itself; an exception here is a driver bug
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
    return LoadRecord(
        seconds=round(seconds, 3),
        committed=tally.committed,
        errors=tally.errors,
        error_texts=tuple(tally.error_texts),
        latency_ms=latency_ms(tally.latencies_s),
        orders_per_s=round(tally.committed / seconds, 1),
    )

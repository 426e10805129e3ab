"""The engine session adapters (blocking and asyncio) against a fake client, no network: the
lease watchdog demotes at the local lease end even while a keep-alive is stuck in a call."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from coordinator.client import EngineSession
from coordinator.client.aio import AsyncEngineSession
from coordinator.client.errors import Unavailable
from coordinator.client.policy import LEASE_EXPIRED
from coordinator.v1 import engine_pb2

TTL_MS = 300


def granted(request: Any) -> engine_pb2.CampaignResponse:
    return engine_pb2.CampaignResponse(
        granted=True, epoch=1, holder_id=request.engine_id, ttl_ms=request.ttl_ms
    )


class StuckKeepAlives:
    """Grants every campaign at once; every KeepAlive hangs until `release` (a network, a proxy
    or an interceptor that holds the call longer than the lease)."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def call_timed(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        sent = time.monotonic_ns()
        if method == "Campaign":
            return granted(request), sent
        self.release.wait(10)
        raise Unavailable(f"{method} released by the test", maybe_applied=False)

    def call(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.call_timed(service, method, request, give_up_ns=give_up_ns)[0]

    def observe(self, *, stop: threading.Event | None = None) -> Iterator[Any]:
        if stop is not None:
            stop.wait(10)
        return iter(())


def test_a_blocking_session_demotes_at_its_lease_end_while_a_keep_alive_is_stuck() -> None:
    client = StuckKeepAlives()
    reasons: list[str] = []
    demoted = threading.Event()
    session = EngineSession(
        client,
        "e1",
        ttl_ms=TTL_MS,  # type: ignore[arg-type]
        on_demoted=lambda reason: (reasons.append(reason), demoted.set()),
    )
    session.start()
    try:
        assert demoted.wait(5), "on_demoted waited for the stuck keep-alive"
        assert not client.release.is_set() and reasons == [LEASE_EXPIRED]
        assert session.epoch is None
    finally:
        client.release.set()
        session.close(resign=False)


class AsyncStuckKeepAlives:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def call_timed(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        sent = time.monotonic_ns()
        if method == "Campaign":
            return granted(request), sent
        await asyncio.wait_for(self.release.wait(), 10)
        raise Unavailable(f"{method} released by the test", maybe_applied=False)

    async def call(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return (await self.call_timed(service, method, request, give_up_ns=give_up_ns))[0]

    async def observe(self, stop: asyncio.Event | None = None) -> AsyncIterator[Any]:
        if stop is not None:
            await stop.wait()
        return
        yield


def test_an_asyncio_session_demotes_at_its_lease_end_while_a_keep_alive_is_stuck() -> None:
    async def scenario() -> None:
        client = AsyncStuckKeepAlives()
        reasons: list[str] = []
        demoted = asyncio.Event()

        def on_demoted(reason: str) -> None:
            reasons.append(reason)
            demoted.set()

        session = await AsyncEngineSession(
            client,
            "e1",
            ttl_ms=TTL_MS,  # type: ignore[arg-type]
            on_demoted=on_demoted,
        ).start()
        try:
            await asyncio.wait_for(demoted.wait(), 5)
            assert not client.release.is_set() and reasons == [LEASE_EXPIRED]
            assert session.epoch is None
        finally:
            client.release.set()
            await session.close(resign=False)

    asyncio.run(scenario())


class GrantsAndRecords:
    """Grants each campaign a new epoch, acknowledges keep-alives, records each Resign."""

    def __init__(self) -> None:
        self.epoch = 0
        self.resigned: list[int] = []

    def answer(self, method: str, request: Any) -> Any:
        if method == "Campaign":
            self.epoch += 1
            return engine_pb2.CampaignResponse(
                granted=True, epoch=self.epoch, holder_id=request.engine_id, ttl_ms=request.ttl_ms
            )
        if method == "Resign":
            self.resigned.append(request.epoch)
            return engine_pb2.ResignResponse(epoch=request.epoch)
        return engine_pb2.KeepAliveResponse(epoch=request.epoch, ttl_ms=TTL_MS)

    def call_timed(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.answer(method, request), time.monotonic_ns()

    def call(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.answer(method, request)

    def observe(self, *, stop: threading.Event | None = None) -> Iterator[Any]:
        if stop is not None:
            stop.wait(10)
        return iter(())


class AsyncGrantsAndRecords(GrantsAndRecords):
    async def call_timed(  # type: ignore[override]
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.answer(method, request), time.monotonic_ns()

    async def call(  # type: ignore[override]
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.answer(method, request)

    async def observe(  # type: ignore[override]
        self, stop: asyncio.Event | None = None
    ) -> AsyncIterator[Any]:
        if stop is not None:
            await stop.wait()
        return
        yield


class FailsFirstReconcile:
    """An on_elected that raises the first time (the venue was unreachable), then succeeds."""

    def __init__(self) -> None:
        self.calls = 0
        self.demotions: list[str] = []

    def on_elected(self, grant: Any) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("venue unreachable")

    def on_demoted(self, reason: str) -> None:
        self.demotions.append(reason)


RAISED = "on_elected raised RuntimeError: venue unreachable"


def test_a_blocking_session_whose_on_elected_raises_gives_the_role_back_then_campaigns() -> None:
    """Issue 14, item 6: an on_elected that raised was logged and the session stayed active,
    so the engine traded on a book it never reconciled."""
    client, engine = GrantsAndRecords(), FailsFirstReconcile()
    session = EngineSession(
        client,  # type: ignore[arg-type]
        "e1",
        ttl_ms=TTL_MS,
        on_elected=engine.on_elected,
        on_demoted=engine.on_demoted,
    ).start()
    try:
        deadline = time.monotonic() + 5
        while session.epoch != 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert (session.epoch, client.resigned, engine.demotions) == (2, [1], [RAISED])
    finally:
        session.close(resign=False)


def test_an_asyncio_session_whose_on_elected_raises_gives_the_role_back_then_campaigns() -> None:
    async def scenario() -> None:
        client, engine = AsyncGrantsAndRecords(), FailsFirstReconcile()
        session = await AsyncEngineSession(
            client,  # type: ignore[arg-type]
            "e1",
            ttl_ms=TTL_MS,
            on_elected=engine.on_elected,
            on_demoted=engine.on_demoted,
        ).start()
        try:
            deadline = time.monotonic() + 5
            while session.epoch != 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert (session.epoch, client.resigned, engine.demotions) == (2, [1], [RAISED])
        finally:
            await session.close(resign=False)

    asyncio.run(scenario())

"""The client library as an engine developer drives it, against a real local cluster."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc
import pytest

from coordinator.client import CoordinatorClient, EngineSession, NotActive, Side, StaleEpoch
from coordinator.client.aio import AsyncCoordinatorClient, AsyncEngineSession
from coordinator.localcluster import wait_until
from tests.cluster_calls import MakeCluster, order_request

pytestmark = pytest.mark.cluster


class DelayKeepAlives(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    """Delays each KeepAlive on the way out and on the way back (a slow, jittery network)."""

    def __init__(self, seed: int, max_ms: int) -> None:
        self.random = random.Random(seed)
        self.max_ms = max_ms

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if not details.method.endswith("/KeepAlive"):
            return continuation(details, request)
        time.sleep(self.random.uniform(0, self.max_ms) / 1000)
        outcome = continuation(details, request)
        outcome.result() if outcome.exception() is None else None
        time.sleep(self.random.uniform(0, self.max_ms) / 1000)
        return outcome


class LostResponse(grpc.RpcError, grpc.Call):  # type: ignore[misc]
    """What the client sees when the server applied the call but the response never arrived."""

    def code(self) -> grpc.StatusCode:
        return grpc.StatusCode.UNAVAILABLE

    def details(self) -> str:
        return "connection reset before the response arrived"

    def trailing_metadata(self) -> tuple[()]:
        return ()

    def initial_metadata(self) -> tuple[()]:
        return ()

    def is_active(self) -> bool:
        return False

    def time_remaining(self) -> None:
        return None

    def cancel(self) -> bool:
        return False

    def add_callback(self, callback: Any) -> bool:
        return False


class LoseFirstSubmitResponse(grpc.UnaryUnaryClientInterceptor):  # type: ignore[type-arg]
    def __init__(self) -> None:
        self.lost = 0

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        outcome = continuation(details, request)
        if details.method.endswith("/SubmitOrder") and self.lost == 0:
            outcome.result()  # the coordinator applied it...
            self.lost += 1
            raise LostResponse()  # ...but the answer is lost
        return outcome


class BreakFirstOrderStream(grpc.StreamStreamClientInterceptor):  # type: ignore[type-arg]
    """The first order stream breaks right after the coordinator answered its first command:
    the command was applied, and its answer never reaches the engine."""

    def __init__(self) -> None:
        self.lost = 0

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        call = continuation(details, requests)
        if self.lost:
            return call
        self.lost += 1
        return BrokenAfterFirstAnswer(call)


class BrokenAfterFirstAnswer:
    def __init__(self, call: Any) -> None:
        self.call = call

    def __iter__(self) -> BrokenAfterFirstAnswer:
        return self

    def __next__(self) -> Any:
        next(self.call)  # the coordinator applied the command and answered...
        self.call.cancel()
        raise LostResponse()  # ...but the stream broke before the answer arrived

    def cancel(self) -> bool:
        return bool(self.call.cancel())


@pytest.mark.parametrize("order_stream", [False, True], ids=["unary", "stream"])
def test_a_call_whose_response_is_lost_is_retried_and_yields_exactly_one_order(
    make_cluster: MakeCluster, order_stream: bool
) -> None:
    cluster = make_cluster().start()
    interceptor = BreakFirstOrderStream() if order_stream else LoseFirstSubmitResponse()
    client = CoordinatorClient(
        cluster.addresses(), interceptors=[interceptor], order_stream=order_stream
    )
    with EngineSession(client, "eng-a", ttl_ms=2000) as session:
        assert session.wait_active(10)
        result = session.submit_order("ord-1", "A1", "BTC-USD", Side.BUY, "1", "100")
    assert interceptor.lost == 1
    assert result.duplicate  # the retry found the order the lost call had created
    assert [o.client_order_id for o in client.orders()] == ["ord-1"]


def test_the_old_engine_is_demoted_before_the_next_epoch_is_granted_under_keep_alive_delays(
    make_cluster: MakeCluster,
) -> None:
    """The lease safety margin: however late keep-alives arrive, the engine that loses its lease
    stops (on_demoted) before the coordinator grants the role to anyone else."""
    cluster = make_cluster().start()
    demoted_at: dict[int, int] = {}
    grants: list[tuple[int, str, int]] = []
    held: dict[str, int] = {}
    lock = threading.Lock()

    def elected(engine: str) -> Callable[[Any], None]:
        def on(grant: Any) -> None:
            with lock:
                held[engine] = grant.epoch

        return on

    def demoted_a(_reason: str) -> None:
        with lock:
            # the last time: a session may resume its epoch
            demoted_at[held["eng-a"]] = time.time_ns()

    slow = CoordinatorClient(
        cluster.addresses(), interceptors=[DelayKeepAlives(seed=11, max_ms=260)]
    )
    a = EngineSession(
        slow, "eng-a", ttl_ms=500, on_elected=elected("eng-a"), on_demoted=demoted_a
    ).start()
    assert a.wait_active(10)
    b = EngineSession(
        CoordinatorClient(cluster.addresses()), "eng-b", ttl_ms=500, on_elected=elected("eng-b")
    ).start()
    stop = threading.Event()

    def watch() -> None:
        for event in CoordinatorClient(cluster.addresses()).observe(stop=stop):
            if event.holder_id and (not grants or grants[-1][0] != event.epoch):
                grants.append((event.epoch, event.holder_id, event.changed_at_ns))

    threading.Thread(target=watch, daemon=True).start()
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and sum(1 for _, h, _ in grants[1:] if h == "eng-b") < 3:
            if b.active:  # hand the role back so that eng-a can lose it again
                time.sleep(0.2)
                b.resign()
                wait_until(lambda: a.active, 10, "eng-a to take the role back")
                b.campaign_again()
            time.sleep(0.02)
    finally:
        stop.set()
        a.close()
        b.close()
    takeovers = [
        (grants[i - 1], grants[i])
        for i in range(1, len(grants))
        if grants[i - 1][1] == "eng-a" and grants[i][1] == "eng-b"
    ]
    assert len(takeovers) >= 3, grants
    print(
        "margins ms:",
        [round((g - demoted_at.get(ea, g)) / 1e6) for (ea, _, _), (_, _, g) in takeovers],
    )
    for (epoch_a, _, _), (epoch_b, _, granted_ns) in takeovers:
        assert epoch_a in demoted_at, f"eng-a never reported losing epoch {epoch_a}"
        assert demoted_at[epoch_a] < granted_ns, (
            f"eng-a stopped acting on epoch {epoch_a} "
            f"{(demoted_at[epoch_a] - granted_ns) / 1e6:.1f} ms after epoch {epoch_b} was granted"
        )


def test_after_demotion_order_calls_raise_without_touching_the_network(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    reasons: list[str] = []
    session = EngineSession(client, "eng-a", ttl_ms=1000, on_demoted=reasons.append).start()
    assert session.wait_active(10)
    epoch = session.epoch
    session.resign()
    wait_until(lambda: reasons == ["resigned"], 5, "on_demoted('resigned')")
    with pytest.raises(NotActive):
        session.submit_order("after", "A1", "BTC-USD", Side.BUY, "1", "100")
    with pytest.raises(StaleEpoch):  # the raw write with the old epoch is fenced by the coordinator
        client.call("Engine", "SubmitOrder", order_request(epoch, "after", engine_id="eng-a"))
    session.close()


def test_the_asyncio_session_campaigns_trades_and_hands_over(make_cluster: MakeCluster) -> None:
    cluster = make_cluster().start()

    async def scenario() -> tuple[int, int, list[str]]:
        client = AsyncCoordinatorClient(cluster.addresses())
        grants: list[Any] = []
        a = await AsyncEngineSession(client, "eng-a", ttl_ms=1000, on_elected=grants.append).start()
        assert await a.wait_active(10)
        await a.submit_order("ord-1", "A1", "BTC-USD", Side.SELL, "2", "101")
        b = await AsyncEngineSession(client, "eng-b", ttl_ms=1000, on_elected=grants.append).start()
        await a.resign()
        assert await b.wait_active(5)
        fill = await b.report_fill("f-1", "ord-1", "2", "101")
        await b.close()
        await a.close()
        await client.close()
        return (
            grants[0].epoch,
            grants[1].epoch,
            [o.client_order_id for o in grants[1].open_orders] + [str(fill.position.quantity)],
        )

    first, second, inherited = asyncio.run(scenario())
    assert (first, second) == (1, 2)
    assert inherited == ["ord-1", "-2"]


class AsyncLoseFirstSubmitResponse(grpc.aio.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """The asyncio twin of LoseFirstSubmitResponse: the first SubmitOrder is applied, and its
    answer is lost on the way back."""

    def __init__(self) -> None:
        self.lost = 0

    async def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        call = await continuation(details, request)
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        if method.endswith("/SubmitOrder") and self.lost == 0:
            await call  # the coordinator applied it...
            self.lost += 1
            raise grpc.aio.AioRpcError(  # ...but the answer is lost
                grpc.StatusCode.UNAVAILABLE,
                grpc.aio.Metadata(),
                grpc.aio.Metadata(),
                details="connection reset before the response arrived",
            )
        return call


class AsyncBreakFirstOrderStream(grpc.aio.StreamStreamClientInterceptor):  # type: ignore[misc]
    """The asyncio twin of BreakFirstOrderStream."""

    def __init__(self) -> None:
        self.lost = 0

    async def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        call = await continuation(details, requests)
        if self.lost:
            return call
        self.lost += 1

        async def broken_after_first_answer() -> Any:
            async for _ in call:  # the coordinator applied the command and answered...
                call.cancel()
                raise grpc.aio.AioRpcError(  # ...but the stream broke before the answer arrived
                    grpc.StatusCode.UNAVAILABLE,
                    grpc.aio.Metadata(),
                    grpc.aio.Metadata(),
                    details="connection reset before the response arrived",
                )
            yield  # never reached: the generator only breaks

        return broken_after_first_answer()


@pytest.mark.parametrize("order_stream", [False, True], ids=["unary", "stream"])
def test_the_asyncio_client_has_the_blocking_clients_interceptors_reads_and_status(
    make_cluster: MakeCluster, order_stream: bool
) -> None:
    """Parity (issue 9): interceptors, get_order and status work on the asyncio client as on the
    blocking one, and a lost answer is retried into exactly one order."""
    cluster = make_cluster().start()

    async def scenario() -> tuple[int, bool, str, str, list[str]]:
        interceptor: Any = (
            AsyncBreakFirstOrderStream() if order_stream else AsyncLoseFirstSubmitResponse()
        )
        async with AsyncCoordinatorClient(
            cluster.addresses(), interceptors=[interceptor], order_stream=order_stream
        ) as client:
            async with AsyncEngineSession(client, "eng-a", ttl_ms=2000) as session:
                assert await session.wait_active(10) and session.active
                result = await session.submit_order("ord-1", "A1", "BTC-USD", Side.BUY, "1", "100")
            order = await client.get_order("ord-1")
            status = await client.status(cluster.addresses()[0])
            orders = [o.client_order_id for o in await client.orders()]
        return interceptor.lost, result.duplicate, order.client_order_id, status.node_id, orders

    lost, duplicate, order_id, node_id, orders = asyncio.run(scenario())
    assert (lost, duplicate, order_id) == (1, True, "ord-1")
    assert node_id == "dc1" and orders == ["ord-1"]

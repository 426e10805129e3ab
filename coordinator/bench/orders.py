"""The coordinator's two order paths as load sessions: `Engine.SubmitOrder` (one unary call per
order) and `Engine.OrderStream` (one stream per client, many orders in flight on it, answers
matched by sequence); and the engine the benchmark writes as, granted the role first.

Every order is a new one (a unique client_order_id), fenced by the benchmark engine's epoch,
and its SubmitOrderRequest is `ORDER_REQUEST_BYTES` long. This module sends and matches; it
decides nothing about what counts as committed beyond "answered with a SubmitOrderResponse".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import grpc

from coordinator.bench.load import OrderFailed, describe
from coordinator.localcluster import LocalCluster
from coordinator.v1 import engine_pb2, engine_pb2_grpc, types_pb2
from coordinator.wire.status import CODE_NAME

ENGINE_ID = "bench-engine"
# The size of every SubmitOrderRequest, the same as etcd's PutRequest in a comparison.
ORDER_REQUEST_BYTES = 200
CLIENT_ORDER_ID_LENGTH = 64
LEASE_TTL_MS = 600_000  # the longest lease; renewed before every run (`BenchEngine.renew`)
# How long closing a stream waits for the server to end it before cancelling the call.
STREAM_CLOSE_S = 5.0


@dataclass(frozen=True)
class BenchEngine:
    """The engine every benchmark order is written as: its id and granted epoch. Its orders
    have a `CLIENT_ORDER_ID_LENGTH`-character id and an account id sized so that each
    SubmitOrderRequest is `ORDER_REQUEST_BYTES` long."""

    engine_id: str
    epoch: int

    @classmethod
    def grant(cls, cluster: LocalCluster, engine_id: str = ENGINE_ID) -> BenchEngine:
        """Campaigns for the role on a fresh cluster (nobody holds it) and returns the grant.
        Raises RuntimeError when the role is not granted."""
        response = cluster.call(
            "Engine",
            "Campaign",
            engine_pb2.CampaignRequest(
                engine_id=engine_id, ttl_ms=LEASE_TTL_MS, request_id=f"bench-{time.time_ns()}"
            ),
        )
        if not response.granted:
            raise RuntimeError(f"could not grant the benchmark engine: {response}")
        return cls(engine_id, int(response.epoch))

    def renew(self, cluster: LocalCluster) -> None:
        """Renews the lease, so that a long benchmark never writes with an expired one."""
        cluster.call(
            "Engine",
            "KeepAlive",
            engine_pb2.KeepAliveRequest(engine_id=self.engine_id, epoch=self.epoch),
        )

    def order(self, client_order_id: str, account: str) -> engine_pb2.SubmitOrderRequest:
        return engine_pb2.SubmitOrderRequest(
            engine_id=self.engine_id,
            epoch=self.epoch,
            client_order_id=client_order_id,
            account=account,
            instrument="BTC-USD",
            side=types_pb2.BUY,
            quantity="1",
            price="100",
        )

    def account(self, total: int = ORDER_REQUEST_BYTES) -> str:
        """The account id that makes an order with a `CLIENT_ORDER_ID_LENGTH`-character id
        `total` bytes long (ids are at most 128 characters: 2 bytes of field header)."""
        length = total - self.order("c" * CLIENT_ORDER_ID_LENGTH, "").ByteSize() - 2
        assert 8 <= length <= 128, (length, total)
        return "BENCH-ACCOUNT-".ljust(length, "0")


def client_order_id(prefix: str, index: int) -> str:
    """`prefix` then `index` zero-padded to `CLIENT_ORDER_ID_LENGTH` characters: unique per
    (prefix, index)."""
    digits = CLIENT_ORDER_ID_LENGTH - len(prefix)
    assert digits >= len(str(index)), (prefix, index)
    return f"{prefix}{index:0{digits}d}"


class UnaryOrders:
    """One client of the unary path: each `send` is one SubmitOrder call."""

    def __init__(
        self, channel: grpc.aio.Channel, engine: BenchEngine, prefix: str, call_timeout_s: float
    ) -> None:
        self._stub = engine_pb2_grpc.EngineStub(channel)  # type: ignore[no-untyped-call]
        self._engine = engine
        self._prefix = prefix
        self._account = engine.account()
        self._timeout_s = call_timeout_s

    async def send(self, index: int) -> None:
        request = self._engine.order(client_order_id(self._prefix, index), self._account)
        await self._stub.SubmitOrder(request, timeout=self._timeout_s)

    async def close(self) -> None:
        """Nothing to end: the channel belongs to the caller."""


class StreamOrders:
    """One client of the stream path: one OrderStream, every `send` a command on it tagged with
    the order's index as its sequence, its answer matched by that sequence.

    A response whose result is `error` fails that order (its google.rpc.Status code and message
    are the error text); a broken or ended stream fails every order still unanswered and every
    later one, with the stream's status. The stream's own deadline bounds every wait on it."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        engine: BenchEngine,
        prefix: str,
        stream_timeout_s: float,
    ) -> None:
        stub = engine_pb2_grpc.EngineStub(channel)  # type: ignore[no-untyped-call]
        self._engine = engine
        self._prefix = prefix
        self._account = engine.account()
        self._call = stub.OrderStream(timeout=stream_timeout_s)
        self._pending: dict[int, asyncio.Future[engine_pb2.OrderStreamResponse]] = {}
        # grpc.aio allows one write at a time on a call
        self._writing = asyncio.Lock()
        self._broken: str | None = None
        self._reader = asyncio.create_task(self._read())

    async def send(self, index: int) -> None:
        if self._broken is not None:
            raise OrderFailed(self._broken)
        assert index not in self._pending, f"sequence {index} is already in flight"
        answer = asyncio.get_running_loop().create_future()
        self._pending[index] = answer
        request = engine_pb2.OrderStreamRequest(
            sequence=index,
            submit_order=self._engine.order(client_order_id(self._prefix, index), self._account),
        )
        try:
            async with self._writing:
                await self._call.write(request)
        except Exception as exc:
            # A write fails once the call has ended; the reader is about to fail every answer
            # still pending, this one included, with the stream's status.
            await asyncio.wait({self._reader}, timeout=STREAM_CLOSE_S)
            if not answer.done():
                self._pending.pop(index, None)
                raise OrderFailed(describe(exc)) from exc
        response = await answer
        kind = response.WhichOneof("result")
        if kind == "error":
            code = CODE_NAME.get(response.error.code, str(response.error.code))
            raise OrderFailed(f"{code}: {response.error.message}")
        if kind != "submit_order":
            raise OrderFailed(f"answered with {kind!r} instead of submit_order")

    async def _read(self) -> None:
        """Resolves each answer's future until the stream ends, then fails the rest."""
        reason = "the stream ended with commands unanswered"
        try:
            async for response in self._call:
                answer = self._pending.pop(response.sequence, None)
                if answer is None:
                    reason = f"an answer to sequence {response.sequence}, which is not in flight"
                    break
                if not answer.done():  # a cancelled lane no longer waits for it
                    answer.set_result(response)
        except grpc.aio.AioRpcError as exc:
            reason = describe(exc)
        except asyncio.CancelledError:
            reason = "the stream was closed"
            raise
        finally:
            self._broken = reason
            for answer in self._pending.values():
                if not answer.done():
                    answer.set_exception(OrderFailed(reason))
            self._pending.clear()

    async def close(self) -> None:
        """Half-closes the stream and waits up to `STREAM_CLOSE_S` for the server to end it,
        then cancels it."""
        if self._broken is None:
            # a call that already ended has nothing to half-close
            with contextlib.suppress(Exception):
                async with self._writing:
                    await self._call.done_writing()
        _, running = await asyncio.wait({self._reader}, timeout=STREAM_CLOSE_S)
        self._call.cancel()
        for task in running:
            task.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

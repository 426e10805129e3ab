"""The coordinator's order paths as load sessions (coordinator/bench/orders.py), against an
in-process grpc.aio stand-in for Engine (tests only): the stream keeps K commands in flight and
matches answers that come back out of order by sequence; a refusal on the stream is an error;
a broken or unimplemented stream fails every order in flight and ends the run early."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.rpc import status_pb2

from coordinator.bench.load import LoadRecord, LoadShape, Tally, drive
from coordinator.bench.orders import (
    CLIENT_ORDER_ID_LENGTH,
    ORDER_REQUEST_BYTES,
    BenchEngine,
    StreamOrders,
    UnaryOrders,
    client_order_id,
)
from coordinator.v1 import engine_pb2, types_pb2

ENGINE = BenchEngine("bench-engine", 7)
REFUSAL = "STALE_EPOCH: epoch 7 is not the current epoch 8"
# When a write races the end of the call, grpc.aio ends the call with this status instead of the
# server's (call.code() says INTERNAL too): the error count is exact, the text may be either.
GRPC_AIO_WRITE_RACE = "INTERNAL: Internal error from Core"


@dataclass
class FakeEngine:
    """Answers OrderStream commands after a delay that depends on the sequence (so answers
    overtake each other), refusing every fifth one; answers SubmitOrder at once. Records what
    it received."""

    received: list[engine_pb2.OrderStreamRequest] = field(default_factory=list)
    unary: list[engine_pb2.SubmitOrderRequest] = field(default_factory=list)
    outstanding_max: dict[int, int] = field(default_factory=dict)
    abort_after: int | None = None

    def answer(self, request: engine_pb2.OrderStreamRequest) -> engine_pb2.OrderStreamResponse:
        if request.sequence % 5 == 4:
            return engine_pb2.OrderStreamResponse(
                sequence=request.sequence, error=status_pb2.Status(code=9, message=REFUSAL)
            )
        order = types_pb2.Order(client_order_id=request.submit_order.client_order_id)
        return engine_pb2.OrderStreamResponse(
            sequence=request.sequence,
            submit_order=engine_pb2.SubmitOrderResponse(order=order),
        )

    async def order_stream(
        self,
        requests: AsyncIterator[engine_pb2.OrderStreamRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        stream = id(context)
        answers: asyncio.Queue[engine_pb2.OrderStreamResponse | None] = asyncio.Queue()
        outstanding = [0]

        async def answer_later(request: engine_pb2.OrderStreamRequest) -> None:
            await asyncio.sleep(0.004 if request.sequence % 2 else 0.0005)
            await answers.put(self.answer(request))

        async def read() -> None:
            tasks = []
            async for request in requests:
                self.received.append(request)
                outstanding[0] += 1
                self.outstanding_max[stream] = max(
                    self.outstanding_max.get(stream, 0), outstanding[0]
                )
                tasks.append(asyncio.create_task(answer_later(request)))
            await asyncio.gather(*tasks)
            await answers.put(None)

        reader = asyncio.create_task(read())
        written = 0
        while (answer := await answers.get()) is not None:
            if self.abort_after is not None and written >= self.abort_after:
                reader.cancel()
                await context.abort(grpc.StatusCode.UNAVAILABLE, "leader changed")
            outstanding[0] -= 1
            await context.write(answer)
            written += 1
        await reader

    async def submit_order(
        self, request: engine_pb2.SubmitOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> engine_pb2.SubmitOrderResponse:
        self.unary.append(request)
        order = types_pb2.Order(client_order_id=request.client_order_id)
        return engine_pb2.SubmitOrderResponse(order=order)

    def handlers(self) -> grpc.GenericRpcHandler[Any, Any]:
        return grpc.method_handlers_generic_handler(
            "coordinator.v1.Engine",
            {
                "OrderStream": grpc.stream_stream_rpc_method_handler(
                    self.order_stream,
                    request_deserializer=engine_pb2.OrderStreamRequest.FromString,
                    response_serializer=engine_pb2.OrderStreamResponse.SerializeToString,
                ),
                "SubmitOrder": grpc.unary_unary_rpc_method_handler(
                    self.submit_order,
                    request_deserializer=engine_pb2.SubmitOrderRequest.FromString,
                    response_serializer=engine_pb2.SubmitOrderResponse.SerializeToString,
                ),
            },
        )


Opener = Callable[[grpc.aio.Channel, int], Any]


async def against(engine: FakeEngine | None, shape: LoadShape, open_session: Opener) -> LoadRecord:
    """Serves `engine` (or an Engine with no method) on 127.0.0.1, drives `shape` through one
    channel per client, and stops it all."""
    server = grpc.aio.server()
    if engine is not None:
        server.add_generic_rpc_handlers((engine.handlers(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(shape.clients)]
    try:
        sessions = [open_session(channel, i) for i, channel in enumerate(channels)]
        record = await drive(sessions, shape, Tally())
        await asyncio.gather(*(s.close() for s in sessions))
        return record
    finally:
        for channel in channels:
            await channel.close(None)
        await server.stop(None)


def streams(channel: grpc.aio.Channel, client: int) -> StreamOrders:
    return StreamOrders(channel, ENGINE, f"s{client}-", stream_timeout_s=10.0)


def run(coroutine: Awaitable[LoadRecord]) -> LoadRecord:
    async def bounded() -> LoadRecord:
        return await asyncio.wait_for(coroutine, 20)

    return asyncio.run(bounded())


def test_the_stream_keeps_k_in_flight_and_matches_answers_out_of_order_by_sequence() -> None:
    engine = FakeEngine()
    record = run(against(engine, LoadShape(2, 4, duration_s=0.3), streams))
    sequences = [r.sequence for r in engine.received]
    refused = [s for s in sequences if s % 5 == 4]
    assert record.committed + record.errors == len(sequences) > 40
    assert record.errors == len(refused)
    assert record.error_texts == (f"FAILED_PRECONDITION: {REFUSAL}",)
    assert sorted(engine.outstanding_max.values()) == [4, 4]
    ids = [r.submit_order.client_order_id for r in engine.received]
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {CLIENT_ORDER_ID_LENGTH}
    assert all(r.submit_order.epoch == 7 for r in engine.received)


def test_a_broken_stream_fails_every_order_in_flight_and_every_later_one() -> None:
    engine = FakeEngine(abort_after=1)
    shape = LoadShape(1, 2, duration_s=30.0, errors_per_lane_max=5)
    started = time.monotonic()
    record = run(against(engine, shape, streams))
    assert time.monotonic() - started < 10
    assert (record.committed, record.errors) == (1, 10)
    assert set(record.error_texts) <= {"UNAVAILABLE: leader changed", GRPC_AIO_WRITE_RACE}
    assert record.error_texts


def test_an_unimplemented_stream_is_an_error_per_order_not_a_hang() -> None:
    shape = LoadShape(2, 2, duration_s=30.0, errors_per_lane_max=3)
    record = run(against(None, shape, streams))
    assert (record.committed, record.errors) == (0, 12)
    # a stand-in with no method says "not found", the real server's base class "not implemented"
    assert set(record.error_texts) <= {"UNIMPLEMENTED: Method not found!", GRPC_AIO_WRITE_RACE}
    assert record.error_texts


def test_unary_orders_are_200_byte_fenced_submits_with_unique_ids() -> None:
    engine = FakeEngine()

    def unary(channel: grpc.aio.Channel, client: int) -> UnaryOrders:
        return UnaryOrders(channel, ENGINE, f"u{client}-", call_timeout_s=5.0)

    record = run(against(engine, LoadShape(2, 2, duration_s=0.2), unary))
    assert record.errors == 0 and record.committed == len(engine.unary) > 10
    assert {r.ByteSize() for r in engine.unary} == {ORDER_REQUEST_BYTES}
    assert len({r.client_order_id for r in engine.unary}) == len(engine.unary)
    assert {(r.engine_id, r.epoch) for r in engine.unary} == {("bench-engine", 7)}


def test_a_client_order_id_is_the_prefix_and_the_zero_padded_index() -> None:
    assert client_order_id("b001c002-", 42) == "b001c002-" + "0" * 53 + "42"

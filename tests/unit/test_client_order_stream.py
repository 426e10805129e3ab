"""The client's order stream (coordinator/client/order_stream.py), both twins, against a fake
stub: answers by sequence, a broken stream fails every waiting call at once, and silence breaks
the stream so that no later call waits on it (rule 4)."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import pytest

from coordinator.client import policy
from coordinator.client.order_stream import AsyncOrderStream, OrderStream
from coordinator.v1 import engine_pb2
from tests.cluster_calls import order_request


class Ended(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return f"ended: {self._code.name}"

    def trailing_metadata(self) -> tuple[()]:
        return ()


class FakeCall:
    """A blocking stream call: answers what `answer` says for each request, in order; `end`
    breaks it; `cancel` breaks it CANCELLED."""

    def __init__(self, requests: Iterator[Any], answer: Any) -> None:
        self.sent: list[engine_pb2.OrderStreamRequest] = []
        self.cancelled = False
        self._out: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._answer = answer
        threading.Thread(target=self._consume, args=(requests,), daemon=True).start()

    def _consume(self, requests: Iterator[Any]) -> None:
        for request in requests:
            self.sent.append(request)
            response = self._answer(request)
            if response is not None:
                self._out.put(response)

    def __iter__(self) -> FakeCall:
        return self

    def __next__(self) -> Any:
        item = self._out.get(timeout=10)
        if isinstance(item, Exception):
            raise item
        return item

    def end(self, code: grpc.StatusCode) -> None:
        self._out.put(Ended(code))

    def cancel(self) -> bool:
        self.cancelled = True
        self._out.put(Ended(grpc.StatusCode.CANCELLED))
        return True


class FakeStub:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[FakeCall] = []

    def OrderStream(self, requests: Iterator[Any]) -> FakeCall:
        self.calls.append(FakeCall(requests, self.answer))
        return self.calls[-1]


def echo(request: engine_pb2.OrderStreamRequest) -> engine_pb2.OrderStreamResponse:
    return engine_pb2.OrderStreamResponse(
        sequence=request.sequence,
        submit_order=engine_pb2.SubmitOrderResponse(duplicate=True),
    )


def test_each_call_gets_the_answer_to_its_own_sequence() -> None:
    stub = FakeStub(echo)
    stream = OrderStream(stub)  # type: ignore[arg-type]
    answers = [stream.send("SubmitOrder", order_request(1, f"o-{i}"), 5) for i in range(3)]
    assert [a.duplicate for a in answers] == [True, True, True]
    assert [r.sequence for r in stub.calls[0].sent] == [1, 2, 3]
    assert stream.broken is None
    stream.close()


def test_a_broken_stream_fails_every_waiting_call_at_once_with_its_status() -> None:
    stub = FakeStub(lambda _request: None)  # never answers
    stream = OrderStream(stub)  # type: ignore[arg-type]
    failures: list[tuple[str, str, str, str]] = []

    def call(cid: str) -> None:
        try:
            stream.send("SubmitOrder", order_request(1, cid), 30)
        except policy.AttemptFailed as exc:
            failures.append(exc.what)

    callers = [threading.Thread(target=call, args=(f"o-{i}",)) for i in range(4)]
    for caller in callers:
        caller.start()
    for _ in range(200):
        if len(stub.calls[0].sent) == 4:
            break
        threading.Event().wait(0.01)
    stub.calls[0].end(grpc.StatusCode.UNAVAILABLE)
    for caller in callers:
        caller.join(10)
    assert [f[0] for f in failures] == ["UNAVAILABLE"] * 4
    assert stream.broken is not None
    with pytest.raises(policy.AttemptFailed):
        stream.send("SubmitOrder", order_request(1, "o-late"), 1)


def test_silence_breaks_the_stream_so_no_later_call_waits_on_it() -> None:
    stub = FakeStub(lambda _request: None)
    stream = OrderStream(stub)  # type: ignore[arg-type]
    with pytest.raises(policy.AttemptFailed) as silent:
        stream.send("SubmitOrder", order_request(1, "o-1"), 0.05)
    assert silent.value.what[0] == "DEADLINE_EXCEEDED"
    assert stub.calls[0].cancelled and stream.broken is not None
    with pytest.raises(policy.AttemptFailed):  # at once: the stream is not used again
        stream.send("SubmitOrder", order_request(1, "o-2"), 30)


class FakeAsyncCall:
    def __init__(self, requests: AsyncIterator[Any], answer: Any) -> None:
        self.cancelled = False
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._answer = answer
        self._consumer = asyncio.ensure_future(self._consume(requests))

    async def _consume(self, requests: AsyncIterator[Any]) -> None:
        async for request in requests:
            response = self._answer(request)
            if response is not None:
                self._out.put_nowait(response)

    def __aiter__(self) -> FakeAsyncCall:
        return self

    async def __anext__(self) -> Any:
        item = await self._out.get()
        if isinstance(item, Exception):
            raise item
        return item

    def cancel(self) -> bool:
        self.cancelled = True
        self._out.put_nowait(Ended(grpc.StatusCode.CANCELLED))
        self._consumer.cancel()
        return True


class FakeAsyncStub:
    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[FakeAsyncCall] = []

    def OrderStream(self, requests: AsyncIterator[Any]) -> FakeAsyncCall:
        self.calls.append(FakeAsyncCall(requests, self.answer))
        return self.calls[-1]


def test_the_asyncio_twin_answers_by_sequence_and_silence_breaks_it() -> None:
    async def scenario() -> tuple[list[bool], str, bool, bool]:
        answering = FakeAsyncStub(echo)
        stream = AsyncOrderStream(answering)  # type: ignore[arg-type]
        answers = await asyncio.gather(
            *(stream.send("SubmitOrder", order_request(1, f"o-{i}"), 5) for i in range(3))
        )
        await stream.close()
        silent_stub = FakeAsyncStub(lambda _request: None)
        silent = AsyncOrderStream(silent_stub)  # type: ignore[arg-type]
        try:
            await silent.send("SubmitOrder", order_request(1, "o-1"), 0.05)
            code = "answered"
        except policy.AttemptFailed as exc:
            code = exc.what[0]
        broken = silent.broken is not None
        await silent.close()
        return [a.duplicate for a in answers], code, silent_stub.calls[0].cancelled, broken

    assert asyncio.run(scenario()) == ([True, True, True], "DEADLINE_EXCEEDED", True, True)


def test_one_slow_call_does_not_break_a_stream_that_answers_the_others() -> None:
    """Rule 4: a call with a short deadline (near its lease end) gives up alone; the stream,
    which went on answering, stays for every other call."""
    stub = FakeStub(lambda r: None if r.submit_order.client_order_id == "o-slow" else echo(r))
    stream = OrderStream(stub)  # type: ignore[arg-type]
    failures: list[tuple[str, str, str, str]] = []

    def slow() -> None:
        try:
            stream.send("SubmitOrder", order_request(1, "o-slow"), 0.3)
        except policy.AttemptFailed as exc:
            failures.append(exc.what)

    caller = threading.Thread(target=slow)
    caller.start()
    for i in range(20):  # answers keep arriving while the slow call waits
        assert stream.send("SubmitOrder", order_request(1, f"o-{i}"), 5).duplicate
        threading.Event().wait(0.02)
    caller.join(5)
    assert [f[0] for f in failures] == ["DEADLINE_EXCEEDED"]
    assert stream.broken is None and not stub.calls[0].cancelled
    assert stream.send("SubmitOrder", order_request(1, "o-after"), 5).duplicate
    stream.close()

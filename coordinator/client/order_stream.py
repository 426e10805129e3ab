"""One Engine.OrderStream to one node, carrying every order call of a client: many in flight,
each answered by the sequence it was sent with. `OrderStream` is the blocking twin,
`AsyncOrderStream` the asyncio one; what an answer means is decided in policy.py.

Rules (both twins):
1. `send` returns the command's response, or raises policy.AttemptFailed: the refusal the
   stream answered, the stream's end, or silence for `timeout_s`. The caller's retry loop
   (Attempts) decides from it exactly as for a unary call.
2. When the stream ends, every call still waiting on it fails at once with the stream's status;
   the stream is then `broken` and the client opens a new one for the next call. A command
   left unanswered may or may not have been applied: it is sent again with the same request,
   so the same idempotency key.
3. A call that gave up on silence forgets its sequence; an answer that arrives later is dropped.
4. Silence breaks the stream: a call that got no answer within its timeout, on a stream that
   answered nothing at all meanwhile, cancels it, so every other call on it is sent again too,
   on a new stream. A stream whose far end hangs (a node partitioned away, or a relay to a
   leader that was) never breaks by itself, and reusing it would make every later call wait out
   its whole timeout. A stream that answered other calls meanwhile is alive: only the slow call
   gives up (maybe applied), and the stream stays, so one call with a short deadline never
   costs the others theirs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc

from coordinator.client import policy
from coordinator.v1 import engine_pb2, engine_pb2_grpc

log = logging.getLogger(__name__)


class _Waiting:
    """One blocking call waiting for its answer."""

    __slots__ = ("answered", "failure", "response")

    def __init__(self) -> None:
        self.answered = threading.Event()
        self.response: engine_pb2.OrderStreamResponse | None = None
        self.failure: policy.AttemptFailed | None = None


class OrderStream:
    """The blocking twin: a reader thread hands each answer to the call waiting for it."""

    def __init__(self, stub: engine_pb2_grpc.EngineStub) -> None:
        self._lock = threading.Lock()
        self._sequences = itertools.count(1)
        self._waiting: dict[int, _Waiting] = {}
        self._outgoing: queue.SimpleQueue[engine_pb2.OrderStreamRequest | None] = (
            queue.SimpleQueue()
        )
        self.broken: policy.AttemptFailed | None = None
        self._last_answer = time.monotonic()
        self._call = stub.OrderStream(self._requests())
        self._reader = threading.Thread(target=self._read, name="order-stream", daemon=True)
        self._reader.start()

    def send(self, method: str, request: Any, timeout_s: float) -> Any:
        waiting = _Waiting()
        with self._lock:
            if self.broken is not None:
                raise self.broken
            sequence = next(self._sequences)
            self._waiting[sequence] = waiting
        self._outgoing.put(policy.stream_request(sequence, method, request))
        if not waiting.answered.wait(timeout_s):
            silent = policy.stream_silent(timeout_s)
            with self._lock:
                self._waiting.pop(sequence, None)
                answered = waiting.answered.is_set()  # just now, racing the timeout
                dead = not answered and time.monotonic() - self._last_answer >= timeout_s
                if dead:
                    self.broken = self.broken or silent
            if dead:
                self._call.cancel()  # rule 4: a silent stream is not used again
            if not answered:
                raise silent
        if waiting.failure is not None:
            raise waiting.failure
        assert waiting.response is not None
        return policy.stream_answer(waiting.response)

    def close(self) -> None:
        self._call.cancel()
        self._outgoing.put(None)

    def _requests(self) -> Iterator[engine_pb2.OrderStreamRequest]:
        while (request := self._outgoing.get()) is not None:
            yield request

    def _read(self) -> None:
        error: grpc.RpcError | None = None
        try:
            for response in self._call:
                with self._lock:
                    self._last_answer = time.monotonic()
                    waiting = self._waiting.pop(response.sequence, None)
                if waiting is not None:
                    waiting.response = response
                    waiting.answered.set()
        except grpc.RpcError as exc:
            error = exc
        failure = policy.stream_broken(error)
        with self._lock:
            self.broken = failure
            orphans, self._waiting = self._waiting, {}
        for waiting in orphans.values():
            waiting.failure = failure
            waiting.answered.set()
        self._outgoing.put(None)


class AsyncOrderStream:
    """The asyncio twin: a reader task resolves each call's future."""

    def __init__(self, stub: engine_pb2_grpc.EngineStub) -> None:
        self._sequences = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[engine_pb2.OrderStreamResponse]] = {}
        self._outgoing: asyncio.Queue[engine_pb2.OrderStreamRequest | None] = asyncio.Queue()
        self.broken: policy.AttemptFailed | None = None
        self._last_answer = time.monotonic()
        self._call = stub.OrderStream(self._requests())
        self._reader = asyncio.ensure_future(self._read())

    async def send(self, method: str, request: Any, timeout_s: float) -> Any:
        if self.broken is not None:
            raise self.broken
        sequence = next(self._sequences)
        answer = asyncio.get_running_loop().create_future()
        self._waiting[sequence] = answer
        self._outgoing.put_nowait(policy.stream_request(sequence, method, request))
        try:
            response = await asyncio.wait_for(answer, timeout_s)
        except TimeoutError:
            silent = policy.stream_silent(timeout_s)
            self._waiting.pop(sequence, None)
            if time.monotonic() - self._last_answer >= timeout_s:
                self.broken = self.broken or silent
                self._call.cancel()  # rule 4: a silent stream is not used again
            raise silent from None
        return policy.stream_answer(response)

    async def close(self) -> None:
        self._call.cancel()
        self._outgoing.put_nowait(None)
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader

    async def _requests(self) -> AsyncIterator[engine_pb2.OrderStreamRequest]:
        while (request := await self._outgoing.get()) is not None:
            yield request

    async def _read(self) -> None:
        error: grpc.RpcError | None = None
        try:
            async for response in self._call:
                self._last_answer = time.monotonic()
                answer = self._waiting.pop(response.sequence, None)
                if answer is not None and not answer.done():
                    answer.set_result(response)
        except grpc.RpcError as exc:
            error = exc
        except asyncio.CancelledError:
            pass
        failure = policy.stream_broken(error)
        self.broken = failure
        orphans, self._waiting = self._waiting, {}
        for answer in orphans.values():
            if not answer.done():
                answer.set_exception(failure)
        self._outgoing.put_nowait(None)

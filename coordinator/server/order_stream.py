"""Engine.OrderStream: the four fenced order writes on one stream, many in flight.

On the Raft leader a stream is served here; on a follower it is relayed to the leader
(Pipeline.forward_stream). The rules, each kept by one place below:

1. Each command is answered once, tagged with its sequence, exactly as its unary twin would be
   answered: the same conversion, validation and rendering (order_writes.ORDER_WRITES,
   pipeline.valid_command), the same refusal as a google.rpc.Status with ErrorInfo
   (wire.status.status_message). A refusal is an answer; the stream stays open.
2. One reader per stream proposes the commands in the order they arrive, and pysyncobj's
   proposal queue is first in, first out, so the commands of one stream that commit, commit in
   the order sent (`_read`). A command refused OVERLOADED (the queue was full: refused at once,
   never in the log) stops the reader before the next one is proposed, and the stream ends
   OVERLOADED (rule 5): a later command must never commit ahead of one the client will resend.
3. A command proposed and not applied within the node's commit timeout is answered
   OUTCOME_UNKNOWN: maybe applied, send it again with the same key (`_answer_overdue`).
4. At most STREAM_IN_FLIGHT_MAX commands of one stream are unanswered; past that the reader
   stops reading, and gRPC's flow control holds the client back (`_read`). With
   ORDER_STREAMS_MAX streams the node's streams cannot fill its proposal queue.
5. When this node is no longer the Raft leader, or refused a command OVERLOADED, or stops, the
   reader proposes nothing more; every command still pending is answered OUTCOME_UNKNOWN at once
   (it may yet commit, or be discarded: only the new leader's log will tell), and the stream
   ends UNAVAILABLE (NO_QUORUM, or RESOURCE_EXHAUSTED for OVERLOADED). Whatever it left
   unanswered was never proposed: the client sends it again, in order, on a new stream
   (`_finish`).
6. At most ORDER_STREAMS_MAX streams per node, relayed ones included: each holds a gRPC worker
   for its life, and KeepAlive must always find one (`OrderStreams.serve`).

Rendering and proposing never run on the Raft tick thread: its callback only queues the outcome.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
from google.rpc import status_pb2

from coordinator.core.refusals import InvalidCommand, Operating, Reason
from coordinator.core.results import Refused, Result
from coordinator.replication.raft import Overloaded, ProposalError
from coordinator.server.errors import abort
from coordinator.server.order_writes import ORDER_WRITES
from coordinator.server.pipeline import Pipeline, valid_command
from coordinator.v1 import engine_pb2
from coordinator.wire.status import status_message

log = logging.getLogger(__name__)
METHOD = "Engine/OrderStream"
STREAM_IN_FLIGHT_MAX = 256
ORDER_STREAMS_MAX = 64
_POLL_S = 0.25  # how often an idle stream looks at overdue commands and a cancelled client

Answer: TypeAlias = Result | ProposalError | status_pb2.Status


class OrderStreams:
    """Every OrderStream of one node (rule 6), served here or relayed to the leader."""

    def __init__(self, pipeline: Pipeline, stopping: threading.Event) -> None:
        self._p = pipeline
        self._stopping = stopping
        self._lock = threading.Lock()
        self._open = 0

    def serve(
        self, requests: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[engine_pb2.OrderStreamResponse]:
        with self._held(context):
            if self._p.raft.is_leader():
                yield from _LeaderStream(self._p, requests, context, self._stopping).responses()
            else:
                yield from self._p.forward_stream(context, METHOD, requests)

    @contextlib.contextmanager
    def _held(self, context: grpc.ServicerContext) -> Iterator[None]:
        with self._lock:
            full = self._open >= ORDER_STREAMS_MAX
            if not full:
                self._open += 1
        if full:
            abort(
                context,
                Operating.OVERLOADED,
                f"this node serves at most {ORDER_STREAMS_MAX} order streams at once; "
                "close one, or send these commands as unary calls",
            )
        try:
            yield
        finally:
            with self._lock:
                self._open -= 1


@dataclass(slots=True)
class _Pending:
    sequence: int
    kind: str  # the OrderStreamRequest.command field, "" when none was set
    started: float  # perf_counter, for the proposal metrics
    overdue_at: float  # monotonic


class _LeaderStream:
    """One stream served on the Raft leader: a reader thread proposes, `responses` answers."""

    def __init__(
        self,
        pipeline: Pipeline,
        requests: Iterator[Any],
        context: grpc.ServicerContext,
        stopping: threading.Event,
    ) -> None:
        self._p = pipeline
        self._requests = requests
        self._context = context
        self._stopping = stopping
        self._answers: queue.SimpleQueue[tuple[int, Answer] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pending: dict[int, _Pending] = {}  # token -> command, in the order proposed
        self._tokens = itertools.count()
        self._room = threading.BoundedSemaphore(STREAM_IN_FLIGHT_MAX)
        self._reading = True
        self._closing = False  # rule 5: nothing more is proposed (set under the lock)
        self._ended_by: tuple[Operating, str] | None = None  # rule 5: why, for the client
        self._closed = threading.Event()

    def responses(self) -> Iterator[engine_pb2.OrderStreamResponse]:
        reader = threading.Thread(target=self._read, name="order-stream", daemon=True)
        reader.start()
        try:
            while self._context.is_active() and self._ended_by is None:
                if self._stopping.is_set():
                    self._end(Operating.NO_QUORUM, f"node {self._p.node_id} is stopping")
                    break
                try:
                    item = self._answers.get(timeout=_POLL_S)
                except queue.Empty:
                    item = None
                if item is not None:
                    response = self._settle(*item)
                    if response is not None:
                        yield response
                yield from self._answer_overdue(time.monotonic())
                with self._lock:
                    if not self._reading and not self._pending:
                        break
            yield from self._finish()
        finally:
            self._closed.set()

    # ------------------------------------------------------------------ reading

    def _read(self) -> None:
        """Rules 2, 4 and 5: propose each command in arrival order, while there is room."""
        try:
            for request in self._requests:
                while not self._room.acquire(timeout=_POLL_S):
                    if self._closed.is_set():
                        return
                if not self._p.raft.is_leader():
                    self._room.release()
                    self._end(
                        Operating.NO_QUORUM, f"node {self._p.node_id} is no longer the Raft leader"
                    )
                    return
                if not self._propose(request):
                    return
        except grpc.RpcError as exc:  # the client cancelled, or the connection broke
            log.debug("order stream closed while reading: %r", exc)
        except Exception:  # a bug here: say so loudly; the stream ends, the node serves on
            log.exception("order stream reader failed; ending the stream")
            self._end(Operating.NO_QUORUM, f"node {self._p.node_id} failed reading the stream")
        finally:
            with self._lock:
                self._reading = False
            self._answers.put(None)  # wakes `responses` to see that reading ended

    def _propose(self, request: engine_pb2.OrderStreamRequest) -> bool:
        """Proposes (or refuses) one command; False when the reader must stop (rules 2, 5)."""
        kind = request.WhichOneof("command") or ""
        token = next(self._tokens)
        with self._lock:
            if self._closing:
                self._room.release()
                return False
            self._pending[token] = _Pending(
                request.sequence,
                kind,
                time.perf_counter(),
                time.monotonic() + self._p.commit_timeout_s,
            )
        if not kind:
            message = (
                "a command (submit_order, update_order, cancel_order or report_fill) is required"
            )
            self._answers.put((token, _invalid(message, "command")))
            return True
        try:
            command = valid_command(getattr(request, kind), ORDER_WRITES[kind].to_command)
        except InvalidCommand as exc:
            self._answers.put((token, _invalid(exc.message, exc.field)))
            return True
        refused_at_once: list[Overloaded] = []

        def on_done(answer: Result | ProposalError) -> None:
            if isinstance(answer, Overloaded):  # pysyncobj refuses a full queue on this thread
                refused_at_once.append(answer)
            self._answers.put((token, answer))

        self._p.raft.propose_then(command, on_done)
        if refused_at_once:
            self._end(Operating.OVERLOADED, "the Raft proposal queue was full")
            return False
        return True

    def _end(self, reason: Operating, why: str) -> None:
        """Rule 5: propose nothing more; the stream ends once the pending are answered."""
        with self._lock:
            self._closing = True
            if self._ended_by is None:
                self._ended_by = (reason, why)
        self._answers.put(None)

    # ---------------------------------------------------------------- answering

    def _settle(self, token: int, answer: Answer) -> engine_pb2.OrderStreamResponse | None:
        """The response to one command, or None when it was already answered overdue."""
        with self._lock:
            pending = self._pending.pop(token, None)
        if pending is None:
            return None
        self._room.release()
        if isinstance(answer, status_pb2.Status):
            return engine_pb2.OrderStreamResponse(sequence=pending.sequence, error=answer)
        if isinstance(answer, ProposalError):
            self._p.observe_proposal(answer.reason, pending.started)
            return engine_pb2.OrderStreamResponse(
                sequence=pending.sequence, error=status_message(answer.reason, str(answer))
            )
        self._p.observe_proposal("committed", pending.started)
        if isinstance(answer, Refused):
            return engine_pb2.OrderStreamResponse(
                sequence=pending.sequence,
                error=status_message(answer.reason, answer.message, answer.field),
            )
        rendered = ORDER_WRITES[pending.kind].render(answer)
        return engine_pb2.OrderStreamResponse(sequence=pending.sequence, **{pending.kind: rendered})

    def _answer_overdue(self, now: float) -> Iterator[engine_pb2.OrderStreamResponse]:
        """Rule 3: OUTCOME_UNKNOWN for every command past its commit timeout. Proposed in order,
        they fall due in order, so the scan stops at the first one not yet due."""
        while True:
            with self._lock:
                token, pending = next(iter(self._pending.items()), (None, None))
                if pending is None or token is None or pending.overdue_at > now:
                    return
                del self._pending[token]
            self._room.release()
            yield self._in_doubt(
                pending,
                f"not applied within {self._p.commit_timeout_s:.3f}s; the command may still be "
                "applied: send it again with the same key",
            )

    def _finish(self) -> Iterator[engine_pb2.OrderStreamResponse]:
        """Rule 5: once the stream ends early, what is pending is in doubt and is said so at
        once; the stream then ends with the reason, and nothing left unanswered was proposed."""
        if self._ended_by is None or not self._context.is_active():
            return
        reason, why = self._ended_by
        with self._lock:
            self._closing = True
        while True:  # the answers already in: each says for sure what became of its command
            try:
                item = self._answers.get_nowait()
            except queue.Empty:
                break
            response = None if item is None else self._settle(*item)
            if response is not None:
                yield response
        with self._lock:
            in_doubt, self._pending = list(self._pending.values()), {}
        for pending in in_doubt:
            yield self._in_doubt(
                pending,
                f"{why} while the command was in flight; it may still be applied: "
                "send it again with the same key",
            )
        abort(
            self._context,
            reason,
            f"{why}; every command this stream left unanswered was not proposed: send it again "
            "(in order, with the same keys) on a new stream",
        )

    def _in_doubt(self, pending: _Pending, message: str) -> engine_pb2.OrderStreamResponse:
        self._p.observe_proposal(Operating.OUTCOME_UNKNOWN, pending.started)
        return engine_pb2.OrderStreamResponse(
            sequence=pending.sequence, error=status_message(Operating.OUTCOME_UNKNOWN, message)
        )


def _invalid(message: str, field: str) -> status_pb2.Status:
    return status_message(Reason.INVALID_COMMAND, message, field)

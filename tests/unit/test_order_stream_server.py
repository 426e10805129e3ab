"""The leader's side of OrderStream (coordinator/server/order_stream.py) against a fake Raft
node, for the rules a real cluster cannot be made to show on demand: a command not applied
within the commit timeout is answered OUTCOME_UNKNOWN (rule 3), a late answer after that is
dropped, and a node serves a bounded number of streams (rule 6)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from coordinator.core.results import Result
from coordinator.replication.raft import Overloaded, ProposalError
from coordinator.server import order_stream
from coordinator.server.order_stream import OrderStreams
from coordinator.v1 import engine_pb2
from coordinator.wire.status import reason_in
from tests.cluster_calls import order_request


class SilentRaft:
    """A leader that takes proposals and answers none until told to."""

    def __init__(self) -> None:
        self.proposed: list[Callable[[Result | ProposalError], None]] = []

    def is_leader(self) -> bool:
        return True

    def propose_then(self, _command: Any, on_done: Callable[[Any], None]) -> None:
        self.proposed.append(on_done)


class FakePipeline:
    def __init__(self, raft: SilentRaft, commit_timeout_s: float) -> None:
        self.raft = raft
        self.node_id = "dc1"
        self.commit_timeout_s = commit_timeout_s
        self.outcomes: list[str] = []

    def observe_proposal(self, outcome: str, _started: float) -> None:
        self.outcomes.append(str(outcome))


class Aborted(Exception):
    pass


class FakeContext:
    def __init__(self) -> None:
        self.active = True
        self.aborted: grpc.Status | None = None

    def is_active(self) -> bool:
        return self.active

    def abort_with_status(self, status: grpc.Status) -> None:
        self.aborted = status
        raise Aborted(status.details)


def requests_until_closed(
    outgoing: queue.SimpleQueue[Any],
) -> Iterator[engine_pb2.OrderStreamRequest]:
    while (request := outgoing.get(timeout=10)) is not None:
        yield request


def test_a_command_not_applied_within_the_commit_timeout_is_answered_outcome_unknown() -> None:
    raft = SilentRaft()
    pipeline = FakePipeline(raft, commit_timeout_s=0.2)
    streams = OrderStreams(pipeline, threading.Event())  # type: ignore[arg-type]
    outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
    outgoing.put(engine_pb2.OrderStreamRequest(sequence=5, submit_order=order_request(1, "o-1")))
    responses = streams.serve(requests_until_closed(outgoing), FakeContext())  # type: ignore[arg-type]

    answer = next(responses)  # at the commit timeout, from the stream's own clock
    assert answer.sequence == 5 and answer.WhichOneof("result") == "error"
    assert reason_in(answer.error) == ("OUTCOME_UNKNOWN", "")
    assert "may still be applied" in answer.error.message
    assert pipeline.outcomes == ["OUTCOME_UNKNOWN"]

    raft.proposed[0](ProposalError("too late"))  # the late answer is dropped, not sent twice
    outgoing.put(None)
    assert list(responses) == []
    assert len(raft.proposed) == 1


def test_a_node_refuses_order_streams_past_its_bound_overloaded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(order_stream, "ORDER_STREAMS_MAX", 2)
    streams = OrderStreams(FakePipeline(SilentRaft(), 5.0), threading.Event())  # type: ignore[arg-type]
    open_streams = []
    for _ in range(2):
        outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
        outgoing.put(
            engine_pb2.OrderStreamRequest(sequence=1, submit_order=order_request(1, "o-1"))
        )
        context = FakeContext()
        responses = streams.serve(requests_until_closed(outgoing), context)  # type: ignore[arg-type]
        threading.Thread(target=lambda r=responses: list(r), daemon=True).start()
        open_streams.append((outgoing, context))
    for _ in range(200):  # until both are being served
        if streams._open == 2:
            break
        threading.Event().wait(0.01)

    third = FakeContext()
    with pytest.raises(Aborted):
        next(streams.serve(iter(()), third))  # type: ignore[arg-type]
    assert third.aborted is not None
    assert third.aborted.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "at most 2 order streams" in third.aborted.details
    for outgoing, context in open_streams:
        context.active = False
        outgoing.put(None)


class StepDownRaft(SilentRaft):
    """Takes proposals and answers none; stops being the leader when told to."""

    def __init__(self) -> None:
        super().__init__()
        self.leading = True

    def is_leader(self) -> bool:
        return self.leading


def submit(sequence: int) -> engine_pb2.OrderStreamRequest:
    return engine_pb2.OrderStreamRequest(
        sequence=sequence, submit_order=order_request(1, f"o-{sequence}")
    )


def test_when_leadership_moves_the_pending_are_in_doubt_at_once_and_the_rest_not_proposed() -> None:
    """Rule 5: the stream does not wait out the commit timeout for the commands it proposed;
    it says they are in doubt, then ends NO_QUORUM for the one it read and never proposed."""
    raft = StepDownRaft()
    pipeline = FakePipeline(raft, commit_timeout_s=30.0)
    streams = OrderStreams(pipeline, threading.Event())  # type: ignore[arg-type]
    outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
    context = FakeContext()
    responses = streams.serve(requests_until_closed(outgoing), context)  # type: ignore[arg-type]
    got: list[Any] = []
    ended: list[BaseException] = []

    def consume() -> None:
        try:
            got.extend(responses)
        except Aborted as exc:
            ended.append(exc)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    outgoing.put(submit(1))
    outgoing.put(submit(2))
    for _ in range(200):
        if len(raft.proposed) == 2:
            break
        threading.Event().wait(0.01)
    raft.leading = False
    outgoing.put(submit(3))
    consumer.join(5)

    assert len(raft.proposed) == 2  # 3 was read, never proposed
    assert [(r.sequence, reason_in(r.error)[0]) for r in got] == [
        (1, "OUTCOME_UNKNOWN"),
        (2, "OUTCOME_UNKNOWN"),
    ]
    assert len(ended) == 1 and context.aborted is not None
    assert context.aborted.code is grpc.StatusCode.UNAVAILABLE
    assert "no longer the Raft leader" in context.aborted.details
    outgoing.put(None)


class FullQueueRaft(SilentRaft):
    """Refuses the second proposal at once on the caller's thread, as pysyncobj does when its
    queue is full; takes every other one."""

    def propose_then(self, command: Any, on_done: Callable[[Any], None]) -> None:
        super().propose_then(command, on_done)
        if len(self.proposed) == 2:
            on_done(Overloaded("the Raft proposal queue is full"))


def test_a_command_refused_overloaded_stops_the_stream_before_the_next_is_proposed() -> None:
    """Rule 2: command 3 must never commit ahead of command 2, which the client will resend."""
    raft = FullQueueRaft()
    streams = OrderStreams(FakePipeline(raft, 30.0), threading.Event())  # type: ignore[arg-type]
    outgoing: queue.SimpleQueue[Any] = queue.SimpleQueue()
    for sequence in (1, 2, 3):
        outgoing.put(submit(sequence))
    context = FakeContext()
    got: list[Any] = []
    with pytest.raises(Aborted):
        for response in streams.serve(requests_until_closed(outgoing), context):  # type: ignore[arg-type]
            got.append(response)
    outgoing.put(None)

    assert len(raft.proposed) == 2
    assert sorted((r.sequence, reason_in(r.error)[0]) for r in got) == [
        (1, "OUTCOME_UNKNOWN"),
        (2, "OVERLOADED"),
    ]
    assert context.aborted is not None
    assert context.aborted.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "proposal queue was full" in context.aborted.details

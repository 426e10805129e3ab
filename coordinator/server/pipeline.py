"""How every gRPC request is handled: parse and validate, then propose (or forward to the Raft
leader), then render the result or map the refusal. The handlers in services.py only name the
conversion functions; the steps live here, once.

- Writes are proposed on the Raft leader only, so every command is stamped with the leader's
  clock. A follower forwards the request to the leader's gRPC address; a forwarded request that
  lands on a non-leader is answered NO_QUORUM rather than forwarded again (no loops).
- Reads are linearizable by default: the leader commits a barrier through the log and reads
  after it has applied. STALE reads answer from this node's applied state without a round trip.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NoReturn, TypeVar

import grpc
from grpc_status import rpc_status

from coordinator.core.commands import Barrier, Command
from coordinator.core.refusals import InvalidCommand, Operating, Reason
from coordinator.core.results import Refused, Result
from coordinator.core.state import CoordinatorState
from coordinator.core.validation import validate_command
from coordinator.replication.raft import ProposalError, RaftNode
from coordinator.server.errors import abort
from coordinator.v1 import admin_pb2, engine_pb2, types_pb2
from coordinator.wire.channel import CHANNEL_OPTIONS

log = logging.getLogger(__name__)
FORWARDED = "coordinator-forwarded-by"
RELAY_WATCH_S = 0.1  # how often a relayed stream checks that its leader still leads
T = TypeVar("T")


class Pipeline:
    def __init__(
        self,
        raft: RaftNode,
        node_id: str,
        commit_timeout_s: float,
        on_proposed: Callable[[str, float], None] | None = None,
        dial: Mapping[str, str] | None = None,
    ) -> None:
        """`dial` maps a peer's gRPC address to the address to connect to instead (a proxy)."""
        self.raft = raft
        self.state = raft.replicated
        self.node_id = node_id
        self.on_proposed = on_proposed
        self.commit_timeout_s = commit_timeout_s
        self._channels: dict[str, grpc.Channel] = {}
        self._channels_lock = threading.Lock()
        self._dial = dict(dial or {})

    def rebind(self, raft: RaftNode) -> None:
        """Serves from a new Raft node (a learner promoted to voter)."""
        self.raft, self.state = raft, raft.replicated

    # ------------------------------------------------------------------ entry points

    def write(
        self,
        context: grpc.ServicerContext,
        method: str,
        request: Any,
        to_command: Callable[[Any], Command],
        render: Callable[[Any], Any],
    ) -> Any:
        """A request that changes state. `method` is "Service/Method" for forwarding."""
        command = parse(context, request, to_command)
        if not self.raft.is_leader():
            return self.forward(context, method, request)
        result = self.propose(context, command)
        if isinstance(result, Refused):
            abort(context, result.reason, result.message, result.field)
        return render(result)

    def read(
        self,
        context: grpc.ServicerContext,
        method: str,
        request: Any,
        consistency: int,
        query: Callable[[CoordinatorState], T],
        render: Callable[[T], Any],
    ) -> Any:
        """A read: linearizable through a barrier on the leader, or STALE from this node."""
        if consistency != types_pb2.STALE:
            if not self.raft.is_leader():
                return self.forward(context, method, request)
            self.propose(context, Barrier())
        return render(self.state.read(query))

    def propose(self, context: grpc.ServicerContext, command: Command) -> Result:
        """Proposes on this node (the leader), mapping operating errors to statuses."""
        remaining = context.time_remaining()
        timeout = (
            self.commit_timeout_s
            if remaining is None
            else min(self.commit_timeout_s, remaining - 0.02)
        )
        if timeout <= 0:
            context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, "the call's deadline left no time to commit"
            )
        started = time.perf_counter()
        try:
            result = self.raft.propose(command, timeout)
        except ProposalError as exc:
            self.observe_proposal(exc.reason, started)
            abort(context, exc.reason, str(exc))
        self.observe_proposal("committed", started)
        return result

    def observe_proposal(self, outcome: str, started: float) -> None:
        """Counts one proposal's outcome and time (seconds since `started`, perf_counter)."""
        if self.on_proposed is not None:
            self.on_proposed(outcome, time.perf_counter() - started)

    # ------------------------------------------------------------------- forwarding

    def forward(self, context: grpc.ServicerContext, method: str, request: Any) -> Any:
        """Sends the request on to the Raft leader and relays its answer, status details
        included."""
        address = self._leader_address(context)
        _request_type, response_type = _message_types(method)
        call = self._channel(address).unary_unary(
            f"/coordinator.v1.{method}",
            request_serializer=type(request).SerializeToString,
            response_deserializer=response_type.FromString,
        )
        remaining = context.time_remaining()
        try:
            return call(
                request,
                timeout=self.commit_timeout_s if remaining is None else remaining,
                metadata=((FORWARDED, self.node_id),),
            )
        except grpc.RpcError as exc:
            self._relay_failure(context, exc, address)

    def forward_stream(
        self, context: grpc.ServicerContext, method: str, requests: Iterator[Any]
    ) -> Iterator[Any]:
        """Relays a stream to the Raft leader, both ways, until either side ends it. When the
        leader's side breaks, this stream ends with the same status (or OUTCOME_UNKNOWN), and
        its unanswered commands are in doubt for the client, as on a direct stream. When this
        node learns of another leader, the relay ends OUTCOME_UNKNOWN at once: a stream to a
        leader that was partitioned away would otherwise hang without ever breaking."""
        address = self._leader_address(context)
        request_type, response_type = _message_types(method)
        call = self._channel(address).stream_stream(
            f"/coordinator.v1.{method}",
            request_serializer=request_type.SerializeToString,
            response_deserializer=response_type.FromString,
        )
        responses = call(requests, metadata=((FORWARDED, self.node_id),))
        context.add_callback(responses.cancel)
        relayed = threading.Event()
        moved = threading.Event()

        def watch_leader() -> None:
            while not relayed.wait(RELAY_WATCH_S):
                leader = self.raft.leader()
                if leader is not None and leader.grpc_address != address:
                    moved.set()
                    responses.cancel()  # type: ignore[no-untyped-call]
                    return

        threading.Thread(target=watch_leader, name="relay-watch", daemon=True).start()
        try:
            yield from responses
        except grpc.RpcError as exc:
            if moved.is_set():
                abort(
                    context,
                    Operating.OUTCOME_UNKNOWN,
                    f"the Raft leader moved away from {address} while this stream was relayed "
                    "to it; its unanswered commands may have been applied: send them again "
                    "with the same keys",
                )
            if exc.code() is grpc.StatusCode.CANCELLED and not context.is_active():
                return  # our client went away first; nothing to tell it
            self._relay_failure(context, exc, address)
        finally:
            relayed.set()

    def _leader_address(self, context: grpc.ServicerContext) -> str:
        """The Raft leader's gRPC address to forward to; aborts NO_QUORUM when the call was
        already forwarded once (no loops) or no leader is known."""
        forwarded_by = {k: v for k, v in context.invocation_metadata()}.get(FORWARDED)
        if forwarded_by is not None:
            abort(
                context,
                Operating.NO_QUORUM,
                f"node {self.node_id} is not the Raft leader either (forwarded by "
                f"{forwarded_by!r}); an election is probably in progress",
            )
        leader = self.raft.leader()
        address = leader.grpc_address if leader is not None else ""
        if not address:
            abort(
                context,
                Operating.NO_QUORUM,
                "no Raft leader is known right now (an election is probably in progress)",
            )
        return address

    def _relay_failure(
        self, context: grpc.ServicerContext, exc: grpc.RpcError, address: str
    ) -> NoReturn:
        """Ends this call as the leader's call ended: its status with details, or
        OUTCOME_UNKNOWN when the leader did not answer at all."""
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
        if status is not None:
            context.abort_with_status(rpc_status.to_status(status))
        code = exc.code()
        if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            abort(
                context,
                Operating.OUTCOME_UNKNOWN,
                f"the Raft leader at {address} did not answer ({code.name}); the request may "
                "have been applied: retry with the same idempotency key",
            )
        context.abort(code, exc.details() or code.name)
        raise AssertionError("abort returned")

    def _channel(self, address: str) -> grpc.Channel:
        with self._channels_lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = grpc.insecure_channel(
                    self._dial.get(address, address), options=CHANNEL_OPTIONS
                )
                self._channels[address] = channel
            return channel

    def close(self) -> None:
        with self._channels_lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


def parse(
    context: grpc.ServicerContext, request: Any, to_command: Callable[[Any], Command]
) -> Command:
    """Request -> validated core command; bad input is INVALID_ARGUMENT naming the field."""
    try:
        return valid_command(request, to_command)
    except InvalidCommand as exc:
        abort(context, Reason.INVALID_COMMAND, exc.message, exc.field)


def valid_command(request: Any, to_command: Callable[[Any], Command]) -> Command:
    """Request -> validated core command, for the unary calls and OrderStream alike. Raises
    InvalidCommand naming the field."""
    command = to_command(request)
    validate_command(command)
    return command


def _message_types(method: str) -> tuple[Any, Any]:
    """(request type, response type) of "Service/Method"."""
    service, name = method.split("/")
    module = engine_pb2 if service == "Engine" else admin_pb2
    return getattr(module, f"{name}Request"), getattr(module, f"{name}Response")

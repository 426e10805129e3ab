"""Engine.OrderStream as an engine in any language sees it on the wire, against a real cluster:
each command answered as its unary twin, in the order sent, relayed by followers, safe to send
again after a broken stream, and through a Raft leader failover."""

from __future__ import annotations

import queue
import signal
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.rpc import status_pb2
from grpc_status import rpc_status

from coordinator.client import CoordinatorClient, EngineSession, Side
from coordinator.localcluster import LocalCluster, wait_until
from coordinator.v1 import admin_pb2, engine_pb2, engine_pb2_grpc, types_pb2
from coordinator.wire.status import reason_in
from tests.cluster_calls import MakeCluster, Writer, grant, order_request

pytestmark = pytest.mark.cluster

UNARY = {
    "submit_order": "SubmitOrder",
    "update_order": "UpdateOrder",
    "cancel_order": "CancelOrder",
    "report_fill": "ReportFill",
}


def command(sequence: int, kind: str, request: Any) -> engine_pb2.OrderStreamRequest:
    return engine_pb2.OrderStreamRequest(sequence=sequence, **{kind: request})


def cancel(epoch: int, cid: str) -> engine_pb2.CancelOrderRequest:
    return engine_pb2.CancelOrderRequest(engine_id="e1", epoch=epoch, client_order_id=cid)


def refusal(status: status_pb2.Status) -> tuple[int, str, str, str]:
    """(code, message, ErrorInfo reason, field): everything an engine branches on."""
    return (status.code, status.message, *reason_in(status))


def unary_outcome(stub: engine_pb2_grpc.EngineStub, kind: str, request: Any) -> Any:
    """The unary twin's answer: its response, or its refusal as `refusal` gives it."""
    try:
        return getattr(stub, UNARY[kind])(request, timeout=10)
    except grpc.RpcError as exc:
        status = rpc_status.from_call(exc)  # type: ignore[arg-type]
        assert status is not None, exc
        return refusal(status)


def stream_of(cluster: LocalCluster, node_id: str) -> engine_pb2_grpc.EngineStub:
    return engine_pb2_grpc.EngineStub(cluster.channel(node_id))  # type: ignore[no-untyped-call]


def answers(
    stub: engine_pb2_grpc.EngineStub, requests: list[engine_pb2.OrderStreamRequest]
) -> dict[int, engine_pb2.OrderStreamResponse]:
    """Sends every request on one stream (all in flight at once) and returns each answer by
    sequence; asserts that each command was answered exactly once."""
    received = list(stub.OrderStream(iter(requests), timeout=60))
    by_sequence = {r.sequence: r for r in received}
    assert len(received) == len(by_sequence) == len(requests)
    assert sorted(by_sequence) == sorted(r.sequence for r in requests)
    return by_sequence


def test_each_command_on_a_stream_is_answered_as_its_unary_twin(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses(), order_stream=False)
    epoch = grant(client)
    stub = stream_of(cluster, cluster.wait_for_leader())
    sent = {
        1: ("submit_order", order_request(epoch, "o-1")),
        2: ("submit_order", order_request(epoch, "o-1")),  # a retry: the stored answer
        3: ("submit_order", order_request(epoch, "o-1", quantity="2")),  # IDEMPOTENCY_CONFLICT
        4: ("submit_order", order_request(epoch + 1, "o-2")),  # STALE_EPOCH
        5: ("submit_order", order_request(epoch, "o-3", quantity="-1")),  # INVALID_COMMAND
        6: ("submit_order", order_request(epoch, "o-4", engine_id="e2")),  # NOT_HOLDER
        7: (
            "update_order",
            engine_pb2.UpdateOrderRequest(
                engine_id="e1",
                epoch=epoch,
                client_order_id="o-1",
                status=types_pb2.OPEN,
                venue_order_id="v-1",
            ),
        ),
        8: (
            "report_fill",
            engine_pb2.ReportFillRequest(
                engine_id="e1",
                epoch=epoch,
                fill_id="f-1",
                client_order_id="o-1",
                quantity="0.25",
                price="100",
            ),
        ),
        9: ("cancel_order", cancel(epoch, "o-404")),  # UNKNOWN_ORDER
        10: ("cancel_order", cancel(epoch, "o-1")),
    }
    got = answers(stub, [command(s, kind, m) for s, (kind, m) in sent.items()])

    kinds = {s: got[s].WhichOneof("result") for s in sent}
    assert kinds == {
        1: "submit_order",
        2: "submit_order",
        3: "error",
        4: "error",
        5: "error",
        6: "error",
        7: "update_order",
        8: "report_fill",
        9: "error",
        10: "cancel_order",
    }
    assert (got[1].submit_order.duplicate, got[2].submit_order.duplicate) == (False, True)
    assert got[1].submit_order.order == got[2].submit_order.order
    assert got[7].update_order.order.status == types_pb2.OPEN
    assert got[8].report_fill.order.filled_quantity == "0.25"
    assert got[8].report_fill.position.quantity == "0.25"
    assert got[10].cancel_order.order.cancel_requested
    reasons = {s: reason_in(got[s].error) for s in (3, 4, 5, 6, 9)}
    assert reasons == {
        3: ("IDEMPOTENCY_CONFLICT", "client_order_id"),
        4: ("STALE_EPOCH", "epoch"),
        5: ("INVALID_COMMAND", "quantity"),
        6: ("NOT_HOLDER", "engine_id"),
        9: ("UNKNOWN_ORDER", "client_order_id"),
    }
    # A refusal changes nothing, so its unary twin, sent now, is refused with the same code,
    # message, reason and field; an applied command's twin is its stored answer.
    for s in (3, 4, 5, 6, 9):
        kind, request = sent[s]
        assert refusal(got[s].error) == unary_outcome(stub, kind, request), s
    again = unary_outcome(stub, "report_fill", sent[8][1])
    assert (again.duplicate, again.order.client_order_id) == (True, "o-1")


def test_a_stream_command_without_a_command_is_refused_naming_the_field(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    stub = stream_of(cluster, cluster.wait_for_leader())
    got = answers(stub, [engine_pb2.OrderStreamRequest(sequence=7)])
    assert got[7].WhichOneof("result") == "error"
    assert reason_in(got[7].error) == ("INVALID_COMMAND", "command")
    assert got[7].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


@pytest.mark.parametrize("where", ["leader", "follower"])
def test_commands_of_one_stream_commit_in_the_order_sent(
    make_cluster: MakeCluster, where: str
) -> None:
    """300 orders, each cancelled right behind its submit, all in flight at once: a cancel
    that overtook its submit would be refused UNKNOWN_ORDER. A follower relays the stream."""
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses(), order_stream=False)
    epoch = grant(client)
    leader = cluster.wait_for_leader()
    node = leader if where == "leader" else next(n for n in cluster.nodes if n != leader)
    requests = []
    for i in range(300):
        requests.append(command(2 * i + 1, "submit_order", order_request(epoch, f"o-{i}")))
        requests.append(command(2 * i + 2, "cancel_order", cancel(epoch, f"o-{i}")))
    got = answers(stream_of(cluster, node), requests)

    refused = {s: reason_in(r.error) for s, r in got.items() if r.WhichOneof("result") == "error"}
    assert refused == {}
    assert all(got[2 * i + 2].cancel_order.order.client_order_id == f"o-{i}" for i in range(300))
    orders = client.orders()
    assert sorted(o.client_order_id for o in orders) == sorted(f"o-{i}" for i in range(300))
    assert all(o.cancel_requested for o in orders)


def test_after_a_stream_breaks_mid_flight_every_command_is_sent_again_safely(
    make_cluster: MakeCluster,
) -> None:
    """The engine sends 200 orders, reads 20 answers and loses the stream. It sends all 200
    again on a new stream with the same keys: each is answered, none is recorded twice."""
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses(), order_stream=False)
    epoch = grant(client)
    stub = stream_of(cluster, cluster.wait_for_leader())
    requests = [command(i, "submit_order", order_request(epoch, f"o-{i}")) for i in range(1, 201)]

    call = stub.OrderStream(iter(requests), timeout=60)
    first = [next(call) for _ in range(20)]
    call.cancel()
    with pytest.raises(grpc.RpcError) as broken:
        list(call)
    assert broken.value.code() is grpc.StatusCode.CANCELLED

    again = answers(stub, requests)
    assert {r.WhichOneof("result") for r in again.values()} == {"submit_order"}
    answered_before = {r.sequence for r in first}
    assert all(again[s].submit_order.duplicate for s in answered_before)
    orders = client.orders()
    assert sorted(o.client_order_id for o in orders) == sorted(f"o-{i}" for i in range(1, 201))


def test_a_stream_ends_no_quorum_when_leadership_moves_and_its_next_command_is_not_applied(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses(), order_stream=False)
    epoch = grant(client)
    leader = cluster.wait_for_leader()
    outgoing: queue.SimpleQueue[engine_pb2.OrderStreamRequest | None] = queue.SimpleQueue()

    def requests() -> Iterator[engine_pb2.OrderStreamRequest]:
        while (request := outgoing.get(timeout=30)) is not None:
            yield request

    call = stream_of(cluster, leader).OrderStream(requests(), timeout=60)
    outgoing.put(command(1, "submit_order", order_request(epoch, "before")))
    assert next(call).submit_order.order.client_order_id == "before"
    client.call("Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest())
    wait_until(lambda: cluster.leader_id() not in (None, leader), 10, "a new Raft leader")
    outgoing.put(command(2, "submit_order", order_request(epoch, "after")))
    with pytest.raises(grpc.RpcError) as ended:
        next(call)
    outgoing.put(None)

    status = rpc_status.from_call(ended.value)  # type: ignore[arg-type]
    assert ended.value.code() is grpc.StatusCode.UNAVAILABLE
    assert status is not None and reason_in(status) == ("NO_QUORUM", "")
    assert "no longer the Raft leader" in status.message
    assert [o.client_order_id for o in client.orders()] == ["before"]


def test_an_engine_session_keeps_trading_on_its_stream_through_a_raft_leader_failover(
    make_cluster: MakeCluster,
) -> None:
    """The client library's order calls go on the stream; SIGKILL of the Raft leader breaks it,
    the calls in flight are sent again to the new leader with the same keys, and every order the
    engine saw acknowledged is recorded exactly once."""
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    assert client.order_stream
    with EngineSession(client, "eng-a", ttl_ms=5000) as session:
        assert session.wait_active(10)
        epoch = session.epoch

        def submit(cid: str) -> Any:
            return session.submit_order(cid, "A1", "BTC-USD", Side.BUY, "1", "100")

        writer = Writer(client, 0, "o", submit_one=submit)
        with writer.running():
            wait_until(lambda: writer.committed >= 50, 20, "50 orders before the kill")
            old_leader = cluster.wait_for_leader()
            cluster.signal(old_leader, signal.SIGKILL)
            cluster.wait_for_leader(exclude=old_leader)
            at_kill = writer.committed
            wait_until(lambda: writer.committed >= at_kill + 50, 20, "50 orders after the kill")
        assert (session.active, session.epoch) == (True, epoch)

    assert writer.failures == []
    recorded = [o.client_order_id for o in client.orders()]
    assert len(recorded) == len(set(recorded))  # Invariant 1: no duplicate orders
    assert writer.acked <= set(recorded)  # Invariant 2: no acknowledged order lost
    client.close()


def test_a_stream_relayed_to_a_leader_that_stops_answering_ends_when_another_leads(
    make_cluster: MakeCluster,
) -> None:
    """The follower relays to the leader; the leader freezes (SIGSTOP: its connections stay
    open and silent, as behind a partition). Once the follower knows the new leader, the
    relayed stream ends OUTCOME_UNKNOWN instead of hanging until the engine's deadline."""
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses(), order_stream=False)
    epoch = grant(client)
    leader = cluster.wait_for_leader()
    follower = next(n for n in cluster.nodes if n != leader)
    outgoing: queue.SimpleQueue[engine_pb2.OrderStreamRequest | None] = queue.SimpleQueue()

    def requests() -> Iterator[engine_pb2.OrderStreamRequest]:
        while (request := outgoing.get(timeout=60)) is not None:
            yield request

    call = stream_of(cluster, follower).OrderStream(requests(), timeout=45)
    outgoing.put(command(1, "submit_order", order_request(epoch, "before")))
    assert next(call).submit_order.order.client_order_id == "before"
    cluster.pause(leader)
    try:
        outgoing.put(command(2, "submit_order", order_request(epoch, "during")))
        with pytest.raises(grpc.RpcError) as ended:
            next(call)
        new_leader = cluster.wait_for_leader(exclude=leader)
    finally:
        outgoing.put(None)
        cluster.resume(leader)

    status = rpc_status.from_call(ended.value)  # type: ignore[arg-type]
    assert ended.value.code() is grpc.StatusCode.UNAVAILABLE, ended.value
    assert status is not None and reason_in(status) == ("OUTCOME_UNKNOWN", "")
    assert new_leader != leader

"""Three Raft nodes in one process, for tests of replication mechanisms that need to look
inside pysyncobj (counters, journals) rather than at a running service, and the verbs those
tests use on them: build a node, grant the role, submit orders, partition. Tests only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pysyncobj.node import TCPNode

from coordinator.core.commands import Barrier, Campaign, SubmitOrder
from coordinator.core.model import Side
from coordinator.core.results import Result
from coordinator.localcluster import wait_until
from coordinator.ports import free_ports
from coordinator.replication.journal import RocksJournal
from coordinator.replication.raft import NoQuorum, RaftSettings
from coordinator.replication.state import ReplicatedState
from coordinator.replication.syncobj_patch import CoordinatorSyncObj, make_node
from coordinator.replication.transport import CoordinatorTransport

SECRET = "test-secret-0123456789"
CLUSTER_ID = "c0ffee0123456789"
COMPACTING = RaftSettings(compaction_min_entries=200)  # a few hundred orders make a snapshot


def raft_node(
    directory: Path,
    identity: TCPNode,
    peers: list[TCPNode],
    settings: RaftSettings,
    *,
    journal_factory: Callable[..., RocksJournal] = RocksJournal,
    cluster_id: str = CLUSTER_ID,
    node_class: type[CoordinatorSyncObj] = CoordinatorSyncObj,
    **options: Any,
) -> CoordinatorSyncObj:
    """One Raft node with a fresh RocksDB journal under `directory`, listening at its identity's
    address and sharing the test secret; `options` go to CoordinatorSyncObj (learner, ...)."""
    directory.mkdir(parents=True, exist_ok=True)
    journal = journal_factory(directory / "raft", directory / "snapshot.bin")
    return node_class(
        self_node=identity,
        peers=peers,
        settings=settings,
        cluster_secret=SECRET,
        bind_address=identity.address,
        journal=journal,
        replicated=ReplicatedState(),
        cluster_id=cluster_id,
        **options,
    )


class InProcessCluster:
    def __init__(
        self,
        base: Path,
        size: int = 3,
        settings: RaftSettings | None = None,
        journal_factory: Callable[..., RocksJournal] = RocksJournal,
        log_guards: bool = True,
        cluster_id: str = CLUSTER_ID,
        per_node: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        """`per_node[i]`: raft_node's options for node i (e.g. node_class, peer_wire)."""
        ports = free_ports(2 * size)
        self.addresses = [f"127.0.0.1:{ports[i]}" for i in range(size)]

        def identity(k: int) -> TCPNode:  # a fresh object for each node that knows it
            return make_node(self.addresses[k], f"n{k}", f"127.0.0.1:{ports[size + k]}")

        settings = settings or RaftSettings(compaction_min_entries=100_000)
        self.nodes = [
            raft_node(
                base / f"n{i}",
                identity(i),
                [identity(k) for k in range(size) if k != i],
                settings,
                journal_factory=journal_factory,
                cluster_id=cluster_id,
                log_guards=log_guards,
                **(per_node[i] if i < len(per_node) else {}),
            )
            for i in range(size)
        ]
        self.journals: list[Any] = [node.journal for node in self.nodes]
        self.base = base
        self.ports = ports

    def leader(self, timeout_s: float = 15.0) -> CoordinatorSyncObj:
        def find() -> CoordinatorSyncObj | None:
            leaders = [n for n in self.nodes if n.is_leader()]
            return leaders[0] if len(leaders) == 1 else None

        return wait_until(find, timeout_s, "an in-process Raft leader")

    def wait_applied(self, index: int, timeout_s: float = 15.0) -> None:
        wait_until(
            lambda: all(n.raftLastApplied >= index for n in self.nodes),
            timeout_s,
            f"every node to apply index {index}",
        )

    def wait_converged(self, timeout_s: float = 30.0) -> str:
        """Waits until every node applied the same index with the same digest, and nothing
        more is queued or committed beyond it; returns the digest."""

        def same() -> str | None:
            views = {n.replicated.digest() for n in self.nodes}
            leader = next((n for n in self.nodes if n.is_leader()), None)
            if (
                len(views) == 1
                and leader is not None
                and leader.raftCommitIndex == leader.raftLastApplied
            ):
                return next(iter(views))[1]
            return None

        return wait_until(same, timeout_s, "every node at the same applied index and digest")

    def commit_barrier(self, timeout_s: float = 15.0) -> Result:
        """Commits a Barrier through whichever node leads: the cluster still commits. A leader
        that steps down between being found and proposing (an election on a busy machine)
        answers NoQuorum; the barrier is then proposed again to the next leader."""

        def commit() -> Result | None:
            try:
                return self.leader(timeout_s).propose(Barrier(), 5)
            except NoQuorum:
                return None

        return wait_until(commit, timeout_s, "a barrier committed by the cluster")

    def close(self) -> None:
        for node in self.nodes:
            node.destroy_synchronous()
        time.sleep(0.05)


# the make_inprocess_cluster fixture (conftest.py)
MakeInProcessCluster = Callable[..., InProcessCluster]


def grant(leader: CoordinatorSyncObj, request_id: str, ttl_ms: int = 600_000) -> int:
    """Campaigns for engine e1 through `leader`; returns the epoch it then holds."""
    leader.propose(Campaign("e1", ttl_ms, request_id), 5)
    return int(leader.replicated.read(lambda s: s.leadership().epoch))


def order(epoch: int, cid: str) -> SubmitOrder:
    """An order of e1 in `epoch`: the smallest valid one."""
    return SubmitOrder("e1", epoch, cid, "A1", "BTC", Side.BUY, Decimal(1), Decimal(1))


def submit_many(
    leader: CoordinatorSyncObj,
    count: int,
    prefix: str,
    in_flight: int = 500,
    wait_for_all: bool = True,
) -> None:
    """Grants e1 the role and proposes `count` orders through `leader` asynchronously, at most
    `in_flight` outstanding; with `wait_for_all`, returns once every one has been answered
    (without, once the last is proposed: for leaders whose callbacks may never come)."""
    epoch = grant(leader, f"campaign-{prefix}")
    slots = threading.BoundedSemaphore(in_flight)
    for i in range(count):
        assert slots.acquire(timeout=30)
        leader.propose_async(order(epoch, f"{prefix}{i}"), lambda _r, _e: slots.release())
    if wait_for_all:
        for _ in range(in_flight):
            assert slots.acquire(timeout=30)


class Partition:
    """Drops every Raft message to and from the isolated nodes until healed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.isolated: set[str] = set()
        self.dropped = 0
        original_send = CoordinatorTransport.send
        original_acks = CoordinatorTransport.send_pending_acks

        def send(transport: CoordinatorTransport, node: Any, message: Any) -> bool:
            if self._cuts(transport, node):
                self.dropped += 1
                return True
            return bool(original_send(transport, node, message))

        def send_pending_acks(transport: CoordinatorTransport) -> None:
            if self.isolated:
                transport.pending_acks = [
                    (n, m) for n, m in transport.pending_acks if not self._cuts(transport, n)
                ]
            original_acks(transport)

        monkeypatch.setattr(CoordinatorTransport, "send", send)
        monkeypatch.setattr(CoordinatorTransport, "send_pending_acks", send_pending_acks)

    def _cuts(self, transport: CoordinatorTransport, node: Any) -> bool:
        return (
            transport._syncObj.identity.address in self.isolated
            or getattr(node, "address", None) in self.isolated
        )

    def isolate(self, node: CoordinatorSyncObj) -> None:
        self.isolated = {node.identity.address}

    def heal(self) -> None:
        self.isolated = set()

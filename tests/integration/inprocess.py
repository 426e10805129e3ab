"""Three Raft nodes in one process, for tests of replication mechanisms that need to look
inside pysyncobj (counters, journals) rather than at a running service. Tests only."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from coordinator.localcluster import free_ports, wait_until
from coordinator.replication.journal import RocksJournal
from coordinator.replication.raft import RaftSettings
from coordinator.replication.state import ReplicatedState
from coordinator.replication.syncobj_patch import CoordinatorSyncObj, make_node

SECRET = "test-secret-0123456789"
CLUSTER_ID = "c0ffee0123456789"


class InProcessCluster:
    def __init__(self, base: Path, size: int = 3, settings: RaftSettings | None = None,
                 journal_factory: Callable[..., RocksJournal] = RocksJournal, log_guards: bool = True,
                 cluster_id: str = CLUSTER_ID) -> None:
        ports = free_ports(2 * size)
        self.addresses = [f"127.0.0.1:{ports[i]}" for i in range(size)]
        self.nodes: list[CoordinatorSyncObj] = []
        self.journals: list[Any] = []
        settings = settings or RaftSettings(compaction_min_entries=100_000)
        for i, address in enumerate(self.addresses):
            directory = base / f"n{i}"
            directory.mkdir()
            journal = journal_factory(directory / "raft", directory / "snapshot.bin")
            peers = [make_node(a, f"n{k}", f"127.0.0.1:{ports[size + k]}") for k, a in enumerate(self.addresses)
                     if k != i]
            self.journals.append(journal)
            self.nodes.append(CoordinatorSyncObj(
                self_node=make_node(address, f"n{i}", f"127.0.0.1:{ports[size + i]}"), peers=peers,
                settings=settings, cluster_secret=SECRET, bind_address=address, journal=journal,
                replicated=ReplicatedState(), log_guards=log_guards, cluster_id=cluster_id))
        self.base = base
        self.ports = ports

    def leader(self, timeout_s: float = 15.0) -> CoordinatorSyncObj:
        def find() -> CoordinatorSyncObj | None:
            leaders = [n for n in self.nodes if n.is_leader()]
            return leaders[0] if len(leaders) == 1 else None

        return wait_until(find, timeout_s, "an in-process Raft leader")

    def wait_applied(self, index: int, timeout_s: float = 15.0) -> None:
        wait_until(lambda: all(n.raftLastApplied >= index for n in self.nodes), timeout_s,
                   f"every node to apply index {index}")

    def wait_converged(self, timeout_s: float = 30.0) -> str:
        """Waits until every node applied the same index with the same digest, and nothing
        more is queued or committed beyond it; returns the digest."""
        def same() -> str | None:
            views = {n.replicated.digest() for n in self.nodes}
            leader = next((n for n in self.nodes if n.is_leader()), None)
            if len(views) == 1 and leader is not None and leader.raftCommitIndex == leader.raftLastApplied:
                return next(iter(views))[1]
            return None

        return wait_until(same, timeout_s, "every node at the same applied index and digest")

    def close(self) -> None:
        for node in self.nodes:
            node.destroy_synchronous()
        time.sleep(0.05)

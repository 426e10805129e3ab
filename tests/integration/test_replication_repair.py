"""Repairing a deposed leader's log: what it applies, and how fast it converges (issue 8,
defects 1 and 2). Three real Raft nodes in one process with pysyncobj's real message handlers,
real RocksDB, and a partition made by dropping messages in the transport."""

from __future__ import annotations

import time
from typing import Any

import pytest

from coordinator.core.commands import SubmitOrder
from coordinator.localcluster import wait_until
from coordinator.replication.envelope import decode
from coordinator.replication.syncobj_patch import CoordinatorSyncObj
from tests.integration.inprocess import (
    COMPACTING,
    InProcessCluster,
    MakeInProcessCluster,
    Partition,
    grant,
    order,
    submit_many,
)


class AppliedLog:
    """Every (index, payload) each node applied, in order, including entries a snapshot later
    hid."""

    def __init__(self, cluster: InProcessCluster) -> None:
        self.by_node: dict[str, list[tuple[int, bytes]]] = {}
        for node in cluster.nodes:
            self._watch(node)

    def _watch(self, node: CoordinatorSyncObj) -> None:
        applied = self.by_node.setdefault(node.identity.node_id, [])
        original = node.replicated.apply

        def apply(payload: bytes, index: int) -> Any:
            applied.append((index, payload))
            return original(payload, index)

        node.replicated.apply = apply  # type: ignore[method-assign]

    def order_ids(self, node: CoordinatorSyncObj) -> set[str]:
        ids = set()
        for _index, payload in self.by_node[node.identity.node_id]:
            command, _issued = decode(payload)
            if isinstance(command, SubmitOrder):
                ids.add(command.client_order_id)
        return ids


def strand_writes_on_isolated_leader(
    cluster: InProcessCluster, partition: Partition, count: int
) -> tuple[CoordinatorSyncObj, CoordinatorSyncObj]:
    """Isolates the leader right after it appended `count` orders it cannot replicate; returns
    (the deposed leader, the new leader of the other two)."""
    old = cluster.leader()
    epoch = grant(old, "first")
    last_before = old.journal.last_index
    partition.isolate(old)
    for i in range(count):
        old.propose_async(order(epoch, f"phantom-{i}"), lambda _r, _e: None)
    wait_until(
        lambda: old.journal.last_index >= last_before + count or None,
        5,
        "the isolated leader to append the stranded orders",
    )
    new = wait_until(
        lambda: next((n for n in cluster.nodes if n is not old and n.is_leader()), None),
        15,
        "a new leader on the majority side",
    )
    return old, new


@pytest.fixture
def compacting_cluster(make_inprocess_cluster: MakeInProcessCluster) -> InProcessCluster:
    return make_inprocess_cluster(settings=COMPACTING)


def test_a_deposed_leader_repaired_by_snapshot_never_applies_its_uncommitted_entries(
    compacting_cluster: InProcessCluster, partition: Partition
) -> None:
    """Defect 1: the new leader's first snapshot chunk carries no prevLogIdx, and pysyncobj
    raised the old leader's commit index over its own unverified tail, so it applied (and kept
    in its audit trail) orders that never committed."""
    cluster = compacting_cluster
    applied = AppliedLog(cluster)
    old, new = strand_writes_on_isolated_leader(cluster, partition, 3)
    submit_many(new, 600, "committed-")
    wait_until(
        lambda: new.journal.first_index > old.journal.last_index or None,
        15,
        "the new leader to compact past the old leader's log",
    )
    partition.heal()
    cluster.wait_converged(30)
    phantoms = {
        cid
        for node in cluster.nodes
        for cid in applied.order_ids(node)
        if cid.startswith("phantom-")
    }
    assert phantoms == set(), f"orders that never committed were applied: {sorted(phantoms)}"
    audit = [payload for payload, _index, _term in old.journal.archived_entries()]
    assert not [p for p in audit if b"phantom-" in p], (
        "the audit trail keeps orders that never committed"
    )


@pytest.fixture
def cluster(make_inprocess_cluster: MakeInProcessCluster) -> InProcessCluster:
    return make_inprocess_cluster()


@pytest.mark.parametrize("stranded", [1, 3])
def test_a_deposed_leader_whose_divergent_tail_is_older_than_many_batches_converges(
    cluster: InProcessCluster, partition: Partition, stranded: int
) -> None:
    """Defect 2: pysyncobj pipelines several AppendEntries per round and each reset overwrites
    nextIndex. The first message of a round resets it down to the conflict, the later ones
    (whose prevLogIdx lies beyond the follower's log) reset it back up to the follower's
    last + 1, and the next round starts there again: without compaction it never converges."""
    old, new = strand_writes_on_isolated_leader(cluster, partition, stranded)
    submit_many(new, 3000, "committed-")  # ~450 KB of entries: several 64 KiB batches
    partition.heal()
    healed = time.monotonic()
    cluster.wait_converged(20)
    print(
        f"converged {1000 * (time.monotonic() - healed):.0f} ms after healing, "
        f"{old.journal.last_index} entries"
    )
    assert old.journal.entries()[-1][1:] == new.journal.entries()[-1][1:]

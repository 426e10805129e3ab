"""Who may join the log: a peer of another cluster, a learner whose add entry was compacted
(issue 8, defects 4 and 7). Real Raft nodes in one process, real RocksDB."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from coordinator.core.commands import Barrier
from coordinator.localcluster import holds_for, wait_until
from coordinator.ports import free_ports
from coordinator.replication.syncobj_patch import CoordinatorSyncObj, make_node
from tests.integration.inprocess import (
    COMPACTING,
    InProcessCluster,
    MakeInProcessCluster,
    Partition,
    raft_node,
    submit_many,
)


@pytest.fixture
def cluster(make_inprocess_cluster: MakeInProcessCluster) -> InProcessCluster:
    return make_inprocess_cluster(settings=COMPACTING)


def node_at(
    base: Path,
    address: str,
    node_id: str,
    peers: list[CoordinatorSyncObj],
    cluster_id: str,
    learner: bool = False,
    floors: list[int] | None = None,
) -> CoordinatorSyncObj:
    """A node outside `peers`' cluster at `address` that knows them; its learner floors are
    recorded in `floors`, and the last one recorded is where it starts."""
    recorded = floors if floors is not None else []
    return raft_node(
        base,
        make_node(address, node_id, "127.0.0.1:1"),
        [p.identity for p in peers],
        peers[0].settings,
        cluster_id=cluster_id,
        learner=learner,
        learner_floor=recorded[-1] if recorded else None,
        on_learner_floor=recorded.append,
    )


def refused(node: CoordinatorSyncObj) -> int:
    return int(node._SyncObj__transport.foreign_peers_refused)  # type: ignore[attr-defined]


def learner_at(
    tmp_path: Path, address: str, cluster: InProcessCluster, floors: list[int]
) -> CoordinatorSyncObj:
    """The learner dc4 of this cluster at `address`, recording the learner floors it is given."""
    return node_at(
        tmp_path / "dc4",
        address,
        "dc4",
        cluster.nodes,
        cluster.nodes[0].cluster_id,
        learner=True,
        floors=floors,
    )


def test_a_node_of_another_cluster_that_holds_the_secret_is_refused(
    cluster: InProcessCluster, tmp_path: Path
) -> None:
    """Defect 7: the Raft handshake carried no cluster identity. A node of another cluster that
    shares the secret, started at a member's address, was taken for that member: it received
    this cluster's log and counted toward its majorities."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    victim = next(n for n in cluster.nodes if n is not leader)
    address = victim.identity.address
    victim.destroy_synchronous()
    others = [n for n in cluster.nodes if n is not victim]
    impostor = node_at(
        tmp_path / "impostor",
        address,
        victim.identity.node_id,
        others,
        cluster_id="another-cluster",
    )
    try:
        holds_for(
            lambda: impostor.journal.last_index <= 1,
            2 * leader.settings.election_max_s,
            "the impostor to receive no entry of this cluster's log",
        )
        # pysyncobj: the node with the greater address dials; the one dialled refuses
        for other in others:
            refuser = impostor if other.identity.address > address else other
            assert refused(refuser) > 0, (
                f"{refuser.identity.address} accepted a connection from another cluster"
            )
        assert cluster.commit_barrier() is not None
    finally:
        impostor.destroy_synchronous()


def test_a_learner_whose_add_entry_was_compacted_away_is_still_promoted(
    cluster: InProcessCluster, tmp_path: Path
) -> None:
    """Defect 4: a learner decided its promotion by searching its live log for the add entry;
    when it was behind and caught up through a snapshot taken after the add, the entry was
    compacted away and it stayed a learner forever."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    address = f"127.0.0.1:{free_ports(1)[0]}"
    floors: list[int] = []
    learner = learner_at(tmp_path, address, cluster, floors)
    wait_until(lambda: floors or None, 10, "the learner's first AppendEntries")
    learner.destroy_synchronous()  # it falls behind while the change commits and is compacted
    leader.change_membership("add", make_node(address, "dc4", "127.0.0.1:1"), 10)
    add_index = leader.journal.last_index
    submit_many(leader, 600, "after-add-")
    wait_until(
        lambda: leader.journal.first_index > add_index or None,
        15,
        "the leader to compact the add entry away",
    )
    again = learner_at(tmp_path, address, cluster, floors)
    try:
        wait_until(
            lambda: again.raftLastApplied > add_index or None,
            20,
            "the learner to catch up by snapshot",
        )
        assert add_index not in {index for _c, index, _t in again.journal.entries()}
        assert again.promotion_committed()
    finally:
        again.destroy_synchronous()


def test_a_snapshot_carries_only_the_committed_membership(
    cluster: InProcessCluster, partition: Partition
) -> None:
    """Defect 7: a snapshot's membership was pysyncobj's view as of the last append, so a change
    a leader appended but never committed lived on in every follower that installed it."""
    from coordinator.replication import snapshots

    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    partition.isolate(leader)
    stranger = make_node(f"127.0.0.1:{free_ports(1)[0]}", "dc4", "127.0.0.1:1")
    leader.run_on_tick(lambda: leader.addNodeToCluster(stranger))
    wait_until(
        lambda: any(n.address == stranger.address for n in leader.otherNodes) or None,
        5,
        "the isolated leader to append the change it cannot commit",
    )
    written_before = leader.journal.stored_snapshot()
    leader.run_on_tick(leader.forceLogCompaction)
    wait_until(lambda: leader.journal.stored_snapshot() != written_before or None, 10, "a snapshot")
    contents = snapshots.decode(leader.journal.stored_snapshot() or b"")
    assert stranger.address not in {m.raft_address for m in contents.members}
    assert {m.node_id for m in contents.members} == {"n0", "n1", "n2"}
    assert contents.cluster_id == leader.cluster_id


@pytest.mark.parametrize("floor_at_start", [False, True])
def test_a_learner_added_before_it_first_heard_from_the_leader_is_promoted(
    cluster: InProcessCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, floor_at_start: bool
) -> None:
    """A learner's floor (the commit index before which a voter with its address means amnesia)
    was the commit index of its first AppendEntries; an add that committed before that first
    contact (an operator or a script quick to add) then looked like amnesia, and the node was
    never promoted. The node now takes the floor from its peers when it starts (node.py)."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    address = f"127.0.0.1:{free_ports(1)[0]}"
    floors = [leader.raftCommitIndex] if floor_at_start else []
    deaf = threading.Event()
    deaf.set()  # the learner ignores everything it receives until the add has committed
    real_on_message = CoordinatorSyncObj._on_message
    monkeypatch.setattr(
        CoordinatorSyncObj,
        "_on_message",
        lambda self, node, message: (
            None
            if (deaf.is_set() and self.identity.address == address)
            else real_on_message(self, node, message)
        ),
    )
    learner = learner_at(tmp_path, address, cluster, floors)
    try:
        leader.change_membership("add", make_node(address, "dc4", "127.0.0.1:1"), 10)
        deaf.clear()
        wait_until(
            lambda: learner.raftLastApplied >= leader.raftCommitIndex or None,
            10,
            "the learner to catch up",
        )
        assert learner.promotion_committed() is floor_at_start
    finally:
        learner.destroy_synchronous()

"""Each pysyncobj hardening, tested so that the test fails without the fix
(../shared/research/pysyncobj.md). Three real Raft nodes in one process, real RocksDB."""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pysyncobj.pickle as pysyncobj_pickle
import pytest
from pysyncobj.config import FAIL_REASON
from pysyncobj.transport import TCPTransport

from coordinator.core.commands import Barrier
from coordinator.core.refusals import Reason
from coordinator.core.results import Ack, Refused
from coordinator.localcluster import holds_for, wait_until
from coordinator.ports import free_ports
from coordinator.replication.envelope import ENTRY_TYPE
from coordinator.replication.journal import RocksJournal
from coordinator.replication.peer_cipher import PeerCipher
from coordinator.replication.raft import MembershipRefused, RaftSettings
from coordinator.replication.syncobj_patch import CoordinatorSyncObj, make_node
from coordinator.replication.transport import CoordinatorTransport
from tests.integration.inprocess import (
    SECRET,
    InProcessCluster,
    MakeInProcessCluster,
    Partition,
    grant,
    submit_many,
)

SUSTAINED = 1000  # orders in flight under sustained load


class TrackingJournal(RocksJournal):
    """Remembers the highest index made durable by a sync."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.durable_index = 0
        self.syncs = 0

    def sync(self) -> None:
        dirty = self._dirty
        super().sync()
        if dirty:
            self.syncs += 1
        self.durable_index = self.last_index


@pytest.fixture
def cluster(make_inprocess_cluster: MakeInProcessCluster) -> InProcessCluster:
    """Here every journal counts its syncs."""
    return make_inprocess_cluster(journal_factory=TrackingJournal)


def test_acknowledgements_and_commits_only_cover_synced_entries(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal_of = {
        node.selfNode.address: journal
        for node, journal in zip(cluster.nodes, cluster.journals, strict=True)
    }
    violations: list[str] = []
    original_send = TCPTransport.send

    def checked_send(transport: TCPTransport, node: Any, message: Any) -> bool:
        if (
            isinstance(message, dict)
            and message.get("type") == "next_node_idx"
            and message.get("success")
        ):
            journal = journal_of[transport._selfNode.address]
            if message["next_node_idx"] - 1 > journal.durable_index:
                violations.append(
                    f"ack of {message['next_node_idx'] - 1} with {journal.durable_index} durable"
                )
        return bool(original_send(transport, node, message))

    monkeypatch.setattr(TCPTransport, "send", checked_send)
    leader = cluster.leader()
    leader_journal = journal_of[leader.selfNode.address]
    leader.addOnTickCallback(
        lambda: (
            leader.raftCommitIndex <= leader_journal.durable_index
            or violations.append(f"commit {leader.raftCommitIndex} > durable")
        )
    )
    submit_many(leader, 3000, "o", in_flight=SUSTAINED, wait_for_all=False)
    cluster.wait_converged()
    assert violations == []
    # Group commit: far fewer fsyncs than entries.
    assert leader_journal.syncs < 3000 / 3, leader_journal.syncs


def test_the_leader_sends_new_entries_before_its_own_sync_and_commits_only_after_it(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Raft thesis 10.2.1: the leader writes its log in parallel with replicating it, so its
    fsync is off the commit's critical path; it still counts itself only once its copy is
    durable (the test above holds that for every tick)."""
    leader = cluster.leader()
    leader_journal = next(
        j for n, j in zip(cluster.nodes, cluster.journals, strict=True) if n is leader
    )
    ahead_of_sync: list[int] = []
    original_send = TCPTransport.send

    def watched_send(transport: TCPTransport, node: Any, message: Any) -> bool:
        if (
            transport._selfNode.address == leader.selfNode.address
            and isinstance(message, dict)
            and message.get("type") == "append_entries"
            and message.get("entries")
            and message["entries"][-1][1] > leader_journal.durable_index
        ):
            ahead_of_sync.append(message["entries"][-1][1])
        return bool(original_send(transport, node, message))

    monkeypatch.setattr(TCPTransport, "send", watched_send)
    commits_past_durable: list[int] = []
    leader.addOnTickCallback(
        lambda: (
            leader.raftCommitIndex <= leader_journal.durable_index
            or commits_past_durable.append(leader.raftCommitIndex)
        )
    )
    submit_many(leader, 500, "o", in_flight=1)
    assert commits_past_durable == []
    assert len(ahead_of_sync) >= 250, ahead_of_sync  # (one order in flight: nearly every one)


def test_no_acknowledged_entry_is_truncated_under_sustained_load(cluster: InProcessCluster) -> None:
    leader = cluster.leader()
    submit_many(leader, 8000, "o", in_flight=SUSTAINED, wait_for_all=False)
    cluster.wait_converged(60)
    assert [n.acked_entries_truncated for n in cluster.nodes] == [0, 0, 0]


def test_the_tripwire_sees_pysyncobj_truncate_acknowledged_entries_without_the_guards(
    make_inprocess_cluster: MakeInProcessCluster,
) -> None:
    """Control for the test above: the counter it reads does detect the defect."""
    unguarded = make_inprocess_cluster(log_guards=False)
    leader = unguarded.leader()
    submit_many(leader, 8000, "o", in_flight=SUSTAINED, wait_for_all=False)
    unguarded.wait_converged(60)
    assert sum(n.acked_entries_truncated for n in unguarded.nodes) > 0


def test_an_unreadable_entry_is_refused_on_every_node_and_the_cluster_keeps_committing(
    cluster: InProcessCluster,
) -> None:
    leader = cluster.leader()
    outcome: list[Any] = []
    done = threading.Event()
    leader._applyCommand(
        b"\x00\xffgarbage", lambda r, e: (outcome.append((r, e)), done.set()), ENTRY_TYPE
    )
    assert done.wait(5)
    result, error = outcome[0]
    assert (
        error == FAIL_REASON.SUCCESS
        and isinstance(result, Refused)
        and result.reason is Reason.INVALID_COMMAND
    )
    assert leader.propose(Barrier(), 5) == Ack()
    cluster.wait_applied(leader.raftLastApplied)


def test_membership_changes_are_refused_while_one_is_in_flight(cluster: InProcessCluster) -> None:
    leader = cluster.leader()
    leader.propose(Barrier(), 5)  # this term's first entries are committed
    first, second = (make_node(f"127.0.0.1:{p}", f"extra{p}", "127.0.0.1:1") for p in free_ports(2))
    errors: list[Exception | None] = [None, None]

    def change(i: int, node: Any) -> None:
        try:
            leader.change_membership("add", node, 10)
        except Exception as exc:
            errors[i] = exc

    threads = [threading.Thread(target=change, args=(i, n)) for i, n in enumerate((first, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    assert sorted(type(e).__name__ for e in errors) == ["MembershipRefused", "NoneType"]
    assert len(leader.otherNodes) == 3  # 3 nodes + one added, never two at once
    assert isinstance(next(e for e in errors if e is not None), MembershipRefused)


def test_a_commit_does_not_wait_for_the_heartbeat_timer(
    make_inprocess_cluster: MakeInProcessCluster,
) -> None:
    """pysyncobj's batch mode holds each command until the next AppendEntries period; here the
    period is 0.5 s, and each of ten sequential commits must finish in well under half of it."""
    slow_heartbeat = RaftSettings(
        heartbeat_s=0.5, election_min_s=1.6, election_max_s=2.0, connection_timeout_s=3.0
    )
    leader = make_inprocess_cluster(settings=slow_heartbeat).leader(20)
    leader.propose(Barrier(), 5)
    durations = []
    for _ in range(10):
        started = time.monotonic()
        leader.propose(Barrier(), 5)
        durations.append(time.monotonic() - started)
    assert max(durations) < 0.25, durations


def test_the_raft_port_never_unpickles_bytes_from_an_unauthenticated_peer(
    cluster: InProcessCluster, tmp_path: Path
) -> None:
    import pickle
    import socket
    import struct
    import zlib

    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self) -> tuple[Any, tuple[str]]:
            return (open, (str(marker), "w"))  # type: ignore[return-value]

    payload = zlib.compress(pickle.dumps(Exploit()))
    host, port = cluster.addresses[0].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=2) as connection:
        connection.sendall(struct.pack("i", len(payload)) + payload)
        connection.settimeout(1)
        with contextlib.suppress(TimeoutError):
            connection.recv(10)
    holds_for(lambda: not marker.exists(), 0.3, "the payload to stay unpickled (no file written)")
    assert cluster.commit_barrier() == Ack()


def speak_to_raft_port(address: str, secret: bytes) -> tuple[PeerCipher, bytes]:
    """Dials a node's Raft port, sends a hello sealed under `secret`, and returns the cipher and
    the node's answer (b"" if it hung up)."""
    host, port = address.rsplit(":", 1)
    cipher = PeerCipher(secret)
    hello = cipher.seal(pysyncobj_pickle.dumps(os.urandom(32)))
    with socket.create_connection((host, int(port)), timeout=2) as connection:
        connection.sendall(struct.pack("<I", len(hello)) + hello)
        connection.settimeout(2)
        answer = b""
        with contextlib.suppress(TimeoutError):
            while chunk := connection.recv(65536):
                answer += chunk
                if len(answer) >= 4 and len(answer) >= 4 + struct.unpack("<I", answer[:4])[0]:
                    break
    return cipher, answer


def test_the_raft_port_answers_an_aes_gcm_hello_under_the_secret_and_drops_any_other(
    cluster: InProcessCluster,
) -> None:
    """Issue 10: the peer wire is AES-GCM keyed from the secret (peer_cipher.py), not Fernet."""
    cipher, answer = speak_to_raft_port(cluster.addresses[0], SECRET.encode())
    (length,) = struct.unpack("<I", answer[:4])
    their_random = pysyncobj_pickle.loads(cipher.open(answer[4 : 4 + length]))
    assert isinstance(their_random, bytes) and len(their_random) == 32
    _, refused = speak_to_raft_port(cluster.addresses[0], b"not the cluster's secret at all")
    assert refused == b""
    assert cluster.commit_barrier() == Ack()


class PreviousReleaseTransport(CoordinatorTransport):
    """The transport as the release before the sealed wire had it: pysyncobj's Fernet, both
    ways (tests only)."""

    def addNode(self, node: Any) -> None:
        TCPTransport.addNode(self, node)

    def _onNewIncomingConnection(self, conn: Any) -> None:
        TCPTransport._onNewIncomingConnection(self, conn)


class PreviousRelease(CoordinatorSyncObj):
    """A node of the release before the sealed peer wire (tests only)."""

    transport_class = PreviousReleaseTransport


def all_links_up(cluster: InProcessCluster) -> bool:
    return all(n.isNodeConnected(p) for n in cluster.nodes for p in n.otherNodes)


@pytest.mark.parametrize("old", [0, 2])  # the previous release on the lowest or highest address
def test_a_rolling_upgrade_keeps_every_link_up(
    make_inprocess_cluster: MakeInProcessCluster, old: int
) -> None:
    """Step 1 of the upgrade (docs/operations.md): upgraded nodes dial with `peer_wire = fernet`
    and accept both wires, so a node of the previous release still reaches every other node.
    Step 2: they switch to aes-gcm one at a time; a sealed node and a Fernet-dialling one
    still talk (node 1 stays on fernet here)."""
    for step in ("fernet", "aes-gcm"):
        per_node: list[dict[str, Any]] = [
            {"peer_wire": step},
            {"peer_wire": "fernet"},
            {"peer_wire": step},
        ]
        if step == "fernet":
            per_node[old] = {"node_class": PreviousRelease}
        cluster = make_inprocess_cluster(per_node=per_node)
        cluster.leader(20)
        wait_until(lambda c=cluster: all_links_up(c), 15, f"every link up ({step})")
        assert cluster.commit_barrier() == Ack()


def test_a_missing_cluster_secret_is_refused_at_construction(tmp_path: Path) -> None:
    from coordinator.replication.state import ReplicatedState

    journal = RocksJournal(tmp_path / "raft", tmp_path / "snapshot.bin")
    with pytest.raises(ValueError, match="cluster secret is required"):
        CoordinatorSyncObj(
            self_node=make_node("127.0.0.1:1", "n", "127.0.0.1:2"),
            peers=[],
            settings=RaftSettings(),
            cluster_secret="",
            bind_address="127.0.0.1:1",
            journal=journal,
            replicated=ReplicatedState(),
        )
    journal.close()


def test_leadership_loss_disarms_the_lease_timer_and_a_new_leader_arms_after_its_barrier(
    cluster: InProcessCluster,
) -> None:
    from coordinator.replication.leases import LeaseKeeper

    keepers = [LeaseKeeper(node) for node in cluster.nodes]
    for keeper in keepers:
        keeper.start()
    try:
        leader = cluster.leader()
        wait_until(lambda: leader.replicated.lease_armed(), 5, "the leader's lease timer to arm")
        followers = [n for n in cluster.nodes if n is not leader]
        assert not any(n.replicated.lease_armed() for n in followers)
        grant(leader, "r1", ttl_ms=400)
        # No keep-alives: the leader expires the lease about one TTL later, once.
        wait_until(
            lambda: leader.replicated.read(lambda s: s.leadership().holder) is None,
            5,
            "the lease to expire",
        )
        release = leader.replicated.read(lambda s: s.leadership().last_release)
        assert release is not None and release.cause == "expired"
    finally:
        for keeper in keepers:
            keeper.stop()


def test_a_node_cut_off_and_healed_does_not_depose_the_healthy_leader(
    cluster: InProcessCluster, partition: Partition
) -> None:
    """Pre-vote with leader stickiness: without it the isolated node keeps raising its term and,
    once healed, forces the majority through a needless election."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    term = leader.raftCurrentTerm
    isolated = next(n for n in cluster.nodes if n is not leader)

    def views() -> str:
        return "; ".join(
            f"{n.identity.node_id}: {n.status().role} term {n.raftCurrentTerm}, elections "
            f"{n.elections_started}, pre-votes {n.prevotes_started}, stalls discounted "
            f"{n.own_stalls_discounted}"
            for n in cluster.nodes
        )

    window_s = 3 * leader.settings.election_max_s
    partition.isolate(isolated)
    holds_for(
        lambda: isolated.raftCurrentTerm == term,
        window_s,
        f"the isolated node to stay at term {term}",
        describe=views,
    )
    assert isolated.prevotes_started > 0, views()
    partition.heal()
    holds_for(
        lambda: leader.is_leader() and leader.raftCurrentTerm == term,
        window_s,
        f"the healthy leader to stay leader at term {term}",
        describe=views,
    )
    assert leader.propose(Barrier(), 5) == Ack()


def hold_off_followers_elections(
    cluster: InProcessCluster, leader: CoordinatorSyncObj, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every election timeout the followers draw from now on is 30 s, so only the leader's own
    checks are under test."""
    for follower in (n for n in cluster.nodes if n is not leader):
        monkeypatch.setattr(follower, "_SyncObj__generateRaftTimeout", lambda: 30.0)


def mute_followers(
    cluster: InProcessCluster, leader: CoordinatorSyncObj, monkeypatch: pytest.MonkeyPatch
) -> float:
    """Drops every message the followers send, holds their elections off, and returns when."""
    from coordinator.replication.transport import CoordinatorTransport

    original_send = CoordinatorTransport.send

    def followers_mute(transport: CoordinatorTransport, node: Any, message: Any) -> bool:
        if transport._syncObj is not leader:
            return True
        return bool(original_send(transport, node, message))

    monkeypatch.setattr(CoordinatorTransport, "send", followers_mute)
    hold_off_followers_elections(cluster, leader, monkeypatch)
    return time.monotonic()


def test_a_leader_whose_own_tick_thread_stalls_does_not_step_down_from_a_healthy_cluster(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow fsync or CPU starvation on the leader's tick thread, longer than the check-quorum
    window: the followers' replies sit unread, and pysyncobj's check (wall clock since the last
    reply it processed) steps down from a healthy cluster and forces an election. The
    followers' election timers are pushed out so that only the leader's own check is under
    test (pre-vote has its own test above)."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    term = leader.raftCurrentTerm
    hold_off_followers_elections(cluster, leader, monkeypatch)
    time.sleep(5 * leader.settings.heartbeat_s)  # heartbeats reset the followers' deadlines to 30 s
    stall_s = 1.5 * leader.settings.election_min_s
    stalled = threading.Event()
    leader.run_on_tick(lambda: (time.sleep(stall_s), stalled.set()))
    assert stalled.wait(5)
    holds_for(
        lambda: leader.is_leader() and leader.raftCurrentTerm == term,
        leader.settings.election_max_s,
        f"the stalled leader to stay leader at term {term}",
    )
    assert leader.own_stalls_discounted >= 1
    assert leader.propose(Barrier(), 5) == Ack()


def test_a_leader_that_hears_from_no_majority_steps_down(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check-quorum itself: both followers go silent (their replies are dropped)."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    muted_at = mute_followers(cluster, leader, monkeypatch)
    wait_until(lambda: not leader.is_leader(), 5, "the leader to step down")
    print(
        f"stepped down {1000 * (time.monotonic() - muted_at):.0f} ms after its followers went "
        "silent"
    )


def test_a_leader_whose_every_tick_is_slow_still_steps_down_when_no_majority_answers(
    cluster: InProcessCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 8, defect 6: a degraded disk makes every tick of the leader take longer than half
    the check-quorum window; each gap was discounted as the leader's own stall, so a leader cut
    off from its followers stayed leader forever. It must step down within two election
    timeouts whatever its tick rate."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    slow_tick_s = 0.16
    leader.addOnTickCallback(lambda: time.sleep(slow_tick_s))
    muted_at = mute_followers(cluster, leader, monkeypatch)
    wait_until(
        lambda: not leader.is_leader(),
        6 * leader.settings.election_max_s,
        "the slow leader to step down",
    )
    print(
        f"stepped down {1000 * (time.monotonic() - muted_at):.0f} ms after its followers went "
        f"silent, every tick {1000 * slow_tick_s:.0f} ms"
    )


def test_a_proposer_callback_that_raises_does_not_make_the_leader_apply_the_entry_again(
    cluster: InProcessCluster,
) -> None:
    """Issue 8, defect 9: pysyncobj runs the callbacks of an entry before it advances
    raftLastApplied, so an exception there re-applied the entry on that node only."""
    leader = cluster.leader()
    leader.propose(Barrier(), 5)
    applied: list[int] = []
    original = leader.replicated.apply

    def counting(payload: bytes, index: int) -> Any:
        applied.append(index)
        return original(payload, index)

    leader.replicated.apply = counting  # type: ignore[method-assign]

    def broken(_result: Any, _error: int) -> None:
        raise RuntimeError("a bug in the caller's callback")

    leader.propose_async(Barrier(), broken)
    assert leader.propose(Barrier(), 5) == Ack()
    assert len(applied) == len(set(applied)) == 2, applied


@pytest.mark.parametrize("stall_s", [0.4, 0.9])
def test_a_stall_of_every_node_at_once_deposes_no_leader(
    cluster: InProcessCluster, stall_s: float
) -> None:
    """Every node compacts at about the same log index, so a snapshot of a large state holds
    every tick thread at once (0.15-0.55 s at 15-80k orders in `coordinator bench`, where it
    caused leader changes under load). The leader's heartbeats then wait, unread, in the
    followers' sockets: a follower's own stall is not the leader's silence, and neither a
    pre-vote nor an election may follow from it."""
    leader = cluster.leader()
    term = leader.raftCurrentTerm
    submit_many(leader, 50, "before")
    prevotes = sum(n.prevotes_started for n in cluster.nodes)  # the first election's round
    for node in cluster.nodes:
        node.run_on_tick(lambda: time.sleep(stall_s))
    holds_for(
        lambda: leader.is_leader() and all(n.raftCurrentTerm == term for n in cluster.nodes),
        stall_s + 3 * leader.settings.election_max_s,
        f"leadership of {leader.selfNode.address} in term {term}",
        describe=lambda: str([(n.raftCurrentTerm, n.is_leader()) for n in cluster.nodes]),
    )
    assert sum(n.prevotes_started for n in cluster.nodes) == prevotes
    assert sum(n.follower_stalls_discounted for n in cluster.nodes) >= 2

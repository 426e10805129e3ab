"""pysyncobj, hardened: the only `SyncObj` subclass, and every override of pysyncobj's internals.

pysyncobj 0.3.17 gives Raft but is unsafe as shipped (../shared/research/pysyncobj.md). This
module keeps its algorithm and fixes what we rely on, each fix in one named place. Nothing
outside coordinator/replication imports it: the rest of the code uses the facade in raft.py.

Replaced or configured (and why):
- `pysyncobj.syncobj.createJournal` -> `_create_journal`: the RocksDB journal (journal.py),
  durable, group-committed; pysyncobj never fsyncs.
- `serializer` / `deserializer` -> `_write_snapshot` / `_read_snapshot`: the core's canonical
  bytes, the committed membership and the cluster id (snapshots.py); never pickle, never
  pysyncobj's view of membership, which includes uncommitted changes.
- `leaderFallbackTimeout` disabled: check-quorum in listening time (check_quorum.py) instead of
  a 30 s wall-clock fallback.
- `transportClass` = transport.CoordinatorTransport: acks held until synced, a dial table,
  pings, no admin utility commands, the cluster id in the handshake.

Overridden methods:
- `_onTick`: sync the leader's new entries before the commit count; run tasks queued for the
  tick thread; a follower's own stall restarts its election timeout (not the leader's
  silence); pre-vote (prevote.py) and check-quorum before pysyncobj's own election and
  commit logic; flush held acks after one sync; the apply trace; slow-tick warnings.
- `_applyCommand`: wake the tick loop, so a commit never waits for the heartbeat timer.
- `_checkCommandsToApply`: send what was appended at once, then sync while the followers do.
- `_SyncObj__onMessageReceived`: pings and pre-votes; trims AppendEntries to what really
  conflicts and keeps reset hints at a known conflict (log_matching.py); never lets a message
  that proves nothing about the log (a snapshot chunk) advance the commit index; success acks
  never lower the leader's nextIndex; records leader contact and a learner's floor.
- `_SyncObj__doApplyCommand`: our entry type to `ReplicatedState.apply` (total: anything
  unreadable is a refusal, a core bug stops the node); membership entries to the committed
  membership; the apply trace.
- `_SyncObj__changeCluster`: one membership change at a time (pysyncobj's guard is dead code).
- `_SyncObj__deleteEntriesFrom`: counts truncations of acknowledged entries (a tripwire).
- `_SyncObj__onNodeConnected`: re-randomizes an election deadline that ran out while offline.

Threads: pysyncobj's tick thread runs everything inside the SyncObj, including the apply. Other
threads only `propose` (enqueue + wait) and read `ReplicatedState` under its lock. The SyncObj
must be constructed on a thread that outlives it (pysyncobj stops ticking when that thread ends).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pysyncobj.syncobj
from pysyncobj import SyncObj, SyncObjConf
from pysyncobj.config import FAIL_REASON
from pysyncobj.monotonic import monotonic
from pysyncobj.node import TCPNode
from pysyncobj.pipe_notifier import PipeNotifier

from coordinator.core.commands import Command
from coordinator.core.results import Result, outcome_name
from coordinator.replication import snapshots
from coordinator.replication.check_quorum import CheckQuorum, QuorumCheck
from coordinator.replication.envelope import ENTRY_TYPE, encode
from coordinator.replication.fatal import stop_node
from coordinator.replication.instruments import ApplyTrace
from coordinator.replication.journal import RocksJournal
from coordinator.replication.log_matching import RepairHint, guarded_next_index, plan_append
from coordinator.replication.membership import CommittedMembership, Promotion, Reachability
from coordinator.replication.prevote import PreVote, Stand
from coordinator.replication.proposals import MembershipRefused, OutcomeUnknown, proposal_error
from coordinator.replication.roles import Role
from coordinator.replication.settings import PEER_WIRE_SEALED, RaftSettings
from coordinator.replication.snapshots import MemberAddress
from coordinator.replication.state import ReplicatedState
from coordinator.replication.transport import CoordinatorTransport

log = logging.getLogger(__name__)
ENTRY_PREFIX = bytes([ENTRY_TYPE])
MEMBERSHIP_PREFIX = bytes([pysyncobj.syncobj._COMMAND_TYPE.MEMBERSHIP])
_RAFT_STATE = pysyncobj.syncobj._RAFT_STATE
# pysyncobj names its states as we name the roles; it has no learner state (a learner is a read-only
# node).
_RAFT_STATE_ROLES = {
    getattr(_RAFT_STATE, role.name): role for role in Role if hasattr(_RAFT_STATE, role.name)
}
_PYSYNCOBJ_FALLBACK_DISABLED_S = 10 * 365 * 24 * 3600.0

# ----------------------------------------------------------- the journal swap (one place)

_journal_lock = threading.Lock()
_next_journal: RocksJournal | None = None


def _create_journal(path: str) -> RocksJournal:
    """pysyncobj's journal factory, replaced: hands out the journal being installed."""
    journal = _next_journal
    assert journal is not None and str(journal.path) == path, (
        "pysyncobj built a SyncObj we did not configure"
    )
    return journal


pysyncobj.syncobj.createJournal = _create_journal


@contextlib.contextmanager
def _installing(journal: RocksJournal) -> Iterator[None]:
    global _next_journal
    with _journal_lock:
        _next_journal = journal
        try:
            yield
        finally:
            _next_journal = None


def make_node(raft_address: str, node_id: str, grpc_address: str) -> TCPNode:
    """A cluster member as pysyncobj knows it. Its id is the advertised Raft address; the node
    id and gRPC address travel with it (in membership entries and snapshots)."""
    return TCPNode(raft_address, node_id=node_id, grpc_address=grpc_address)


@dataclass(frozen=True, slots=True)
class MemberView:
    node_id: str
    raft_address: str
    grpc_address: str
    is_self: bool
    connected: bool
    match_index: int


@dataclass(frozen=True, slots=True)
class RaftStatus:
    role: Role
    term: int
    commit_index: int
    applied_index: int
    leader_id: str
    leader_grpc_address: str
    first_log_index: int
    last_log_index: int
    members: tuple[MemberView, ...]
    acked_entries_truncated: int


@dataclass(frozen=True, slots=True)
class RaftCounters:
    """Totals since this node started, for metrics and tests."""

    elections_started: int
    leader_changes: int
    prevote_rounds: int
    own_stalls_discounted: int
    acked_entries_truncated: int
    commits_held: int
    resets_lowered: int
    foreign_peers_refused: int


class CoordinatorSyncObj(SyncObj):  # type: ignore[misc]
    _SyncObj__raftElectionDeadline: float  # pysyncobj's private attributes this class reads or sets
    _SyncObj__raftState: int
    _SyncObj__transferInProgress: bool
    _SyncObj__transport: CoordinatorTransport
    _SyncObj__raftCommitIndex: int
    transport_class: type[CoordinatorTransport] = CoordinatorTransport

    def __init__(
        self,
        *,
        self_node: TCPNode,
        peers: Sequence[TCPNode],
        settings: RaftSettings,
        cluster_secret: str,
        bind_address: str,
        journal: RocksJournal,
        replicated: ReplicatedState,
        dial_table: Mapping[str, str] | None = None,
        log_guards: bool = True,
        learner: bool = False,
        learner_floor: int | None = None,
        on_learner_floor: Callable[[int], None] | None = None,
        cluster_id: str = "",
        peer_wire: str = PEER_WIRE_SEALED,
    ) -> None:
        """`self_node` is this node as the cluster knows it. A `learner` joins as a pysyncobj
        read-only node: it receives the log and votes on nothing until `members add` makes it a
        voter (see promotion_committed)."""
        if not cluster_secret:
            raise ValueError(
                "a cluster secret is required: without it the Raft port unpickles whatever it "
                "receives"
            )
        self.peer_secret = cluster_secret.encode()  # the peer wire's key (peer_cipher.py)
        self.dials_sealed = peer_wire == PEER_WIRE_SEALED  # else pysyncobj's Fernet (upgrades)
        self.settings = settings
        self.replicated = replicated
        self.identity = self_node
        self.learner = learner
        self._journal = journal
        self._dial_table = dict(dial_table or {})
        self._log_guards = log_guards
        self._notifier: PipeNotifier | None = None
        self._acked = (0, 0)  # (term, index) this node last acknowledged to a leader
        self._membership_pending_index: int | None = None
        self.acked_entries_truncated = 0
        self.next_index_regressions_prevented = 0
        self.appends_trimmed = 0
        self.commits_held = 0  # unproven commit advances refused (defect 1)
        self.resets_lowered = 0  # reset hints kept at a known conflict (defect 2)
        self._repair = RepairHint()
        self.leader_changes = 0
        self.elections_started = 0
        self.on_role_change: Callable[[Role], None] | None = None
        self._message_s = 0.0
        self._last_snapshot_s = 0.0
        self._poll_started = 0.0
        self._check_quorum = CheckQuorum(settings.election_min_s)
        self._prevote = PreVote(stickiness_s=settings.election_min_s - settings.heartbeat_s)
        self.follower_stalls_discounted = 0  # own stalls not counted as the leader's silence
        self._tick_tasks: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        # A learner's first AppendEntries tells it what was committed before it joined (kept by
        # the node across restarts: see promotion_committed).
        self._learner_floor = learner_floor
        self._on_learner_floor = on_learner_floor
        self._warned_amnesia = False
        self.trace = ApplyTrace.from_env(self_node.node_id)
        self.cluster_id = cluster_id
        founders = list(peers) if learner else [self_node, *peers]
        self._membership = CommittedMembership(member_of(n) for n in founders)
        conf = SyncObjConf(
            password=cluster_secret,
            bindAddress=bind_address,
            appendEntriesUseBatch=True,
            appendEntriesPeriod=settings.heartbeat_s,
            raftMinTimeout=settings.election_min_s,
            raftMaxTimeout=settings.election_max_s,
            leaderFallbackTimeout=_PYSYNCOBJ_FALLBACK_DISABLED_S,  # replaced by _check_quorum
            connectionTimeout=settings.connection_timeout_s,
            connectionRetryTime=settings.connection_retry_s,
            commandsWaitLeader=False,
            commandsQueueSize=settings.queue_size,
            dynamicMembershipChange=True,
            journalFile=str(journal.path),
            fullDumpFile=str(journal.snapshot_path),
            serializer=self._write_snapshot,
            deserializer=self._read_snapshot,
            useFork=False,
            logCompactionMinEntries=settings.compaction_min_entries,
            logCompactionMinTime=settings.compaction_min_time_s,
            onStateChanged=self._on_state_changed,
        )
        with _installing(journal):
            super().__init__(
                None if learner else self_node,
                list(peers),
                conf,
                transportClass=self.transport_class,
            )

    # ------------------------------------------------------------- proposing

    def propose(self, command: Command, timeout_s: float) -> Result:
        """Replicates `command`, waits until this node applied it and returns its result.

        Raises NoQuorum / Overloaded (not applied) or OutcomeUnknown (maybe applied).
        Never call it from pysyncobj's tick thread (it would wait on itself).
        """
        done = threading.Event()
        outcome: list[Any] = []

        def on_done(result: Any, error: int) -> None:
            outcome.append((result, error))
            done.set()

        self.propose_async(command, on_done)
        if not done.wait(timeout_s):
            raise OutcomeUnknown(
                f"no commit within {timeout_s:.3f}s; the command may still be applied"
            )
        result, error = outcome[0]
        if error != FAIL_REASON.SUCCESS:
            raise proposal_error(error)
        return result  # type: ignore[no-any-return]

    def propose_async(self, command: Command, callback: Callable[[Any, int], None]) -> None:
        """Queues `command`; pysyncobj's tick thread calls `callback(result, fail_reason)`."""
        self._applyCommand(encode(command, time.time_ns()), _contained(callback), ENTRY_TYPE)

    @property
    def journal(self) -> RocksJournal:
        return self._journal

    def is_leader(self) -> bool:
        return bool(self._isLeader())

    def term(self) -> int:
        return int(self.raftCurrentTerm)

    def leader_node(self) -> TCPNode | None:
        return self._getLeader()

    def dial_target(self, raft_address: str) -> tuple[str, int]:
        host, port = self._dial_table.get(raft_address, raft_address).rsplit(":", 1)
        return host, int(port)

    # ----------------------------------------------------------- membership

    def change_membership(self, action: str, node: TCPNode, timeout_s: float) -> None:
        """Adds or removes one voter and waits until the change is applied here.
        Raises MembershipRefused, NoQuorum or OutcomeUnknown."""
        done = threading.Event()
        outcome: list[int] = []

        def on_done(_result: Any, error: int) -> None:
            outcome.append(error)
            done.set()

        if action == "add":
            self.addNodeToCluster(node, on_done)
        else:
            self.removeNodeFromCluster(node, on_done)
        if not done.wait(timeout_s):
            raise OutcomeUnknown(f"the membership change did not commit within {timeout_s:.1f}s")
        if outcome[0] != FAIL_REASON.SUCCESS:
            raise proposal_error(outcome[0])

    def promotion_committed(self) -> bool:
        """A learner's question: has a committed membership change made this node a voter?

        Decided from the committed membership (membership.CommittedMembership), so a change
        whose entry was compacted away still counts. Only a change made after this learner
        joined does: an older one means this node id is already a voter, and this node lost the
        data that voter acknowledged (an emptied data directory); promoting it would let a node
        with amnesia vote. It must be removed with `coordinator members remove` and added again.
        """
        if not self.learner:
            return False
        decision = self._membership.promotion(self.identity.address, self._learner_floor)
        if decision is Promotion.AMNESIA and not self._warned_amnesia:
            self._warned_amnesia = True
            member = self._membership.get(self.identity.address)
            log.error(
                "this node id is already a voter since log index %d, before this learner joined: "
                "refusing to promote a node that lost its data; remove it with `coordinator "
                "members remove` and add it again",
                member.added_index if member else 0,
            )
        return decision is Promotion.PROMOTE

    def reachability(self) -> Reachability:
        """Voters this node is connected to (itself included), and all voters in its
        configuration."""
        others = self.otherNodes
        return Reachability(1 + sum(1 for n in others if self.isNodeConnected(n)), 1 + len(others))

    def transfer_leadership(self, target: TCPNode | None, timeout_s: float) -> str:
        """Hands Raft leadership to `target` (None: the most caught-up voter) and waits until
        another node leads. Returns the new leader's node id. Raises MembershipRefused."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_leader():
                leader = self._getLeader()
                if leader is not None:
                    return str(getattr(leader, "node_id", leader.address))
                time.sleep(0.02)
                continue
            if self._request_transfer(target) != FAIL_REASON.SUCCESS:
                # the target is still catching up (pysyncobj needs it fully caught up)
                time.sleep(0.05)
                continue
            time.sleep(self.settings.election_min_s / 2)
        raise MembershipRefused(f"leadership did not move within {timeout_s:.1f}s")

    def _request_transfer(self, target: TCPNode | None) -> int | None:
        """One pysyncobj TimeoutNow request; its FAIL_REASON, or None if it did not answer."""
        done = threading.Event()
        outcome: list[int] = []

        def on_sent(_result: Any, error: int) -> None:
            outcome.append(error)
            done.set()

        self.run_on_tick(lambda: self.transferLeadership(target, on_sent))
        done.wait(1.0)
        return outcome[0] if outcome else None

    def run_on_tick(self, task: Callable[[], None]) -> None:
        """Runs `task` on pysyncobj's tick thread (the only thread that may touch its transport)."""
        self._tick_tasks.put(task)
        notifier = self._notifier
        if notifier is not None:
            with contextlib.suppress(BlockingIOError):
                notifier.notify()

    def _SyncObj__changeCluster(self, request: Any) -> bool:
        """One membership change at a time (pysyncobj's own check is dead code: its
        `__changeClusterIDx` is never assigned). Runs on the leader's tick thread."""
        pending = self._membership_pending_index
        if pending is not None and self.raftLastApplied < pending:
            return False
        accepted = bool(super()._SyncObj__changeCluster(request))
        if accepted:
            self._membership_pending_index = self._journal.last_index + 1
        return accepted

    # ------------------------------------------------------------- pre-vote

    def _pre_vote(self) -> None:
        """Runs before pysyncobj's election check: an election starts only after a pre-vote
        round won a majority (pysyncobj starts it once the deadline is in the past)."""
        state = self._SyncObj__raftState
        if (
            self.learner
            or state == _RAFT_STATE.LEADER
            or not self.otherNodes
            or self._SyncObj__transferInProgress
        ):
            return
        now = monotonic()
        if self._SyncObj__raftElectionDeadline > now or not self._SyncObj__connectedToAnyone():
            return
        action = self._prevote.on_deadline(self.raftCurrentTerm)
        if isinstance(action, Stand):
            return  # won: let pysyncobj stand for election now
        message = {
            "type": "pre_vote",
            "round": action.round,
            "term": action.term,
            "last_log_index": self._journal.last_index,
            "last_log_term": self._journal.last_term,
        }
        for node in self.otherNodes:
            self._SyncObj__transport.send(node, message)
        # Not won yet: hold pysyncobj's election off until the next round is due.
        self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()

    def _on_pre_vote_message(self, node: Any, message: dict[str, Any]) -> None:
        if message["type"] == "pre_vote":
            granted = self._prevote.grants(
                monotonic(),
                message["term"],
                (message["last_log_term"], message["last_log_index"]),
                self.raftCurrentTerm,
                (self._journal.last_term, self._journal.last_index),
                self.is_leader(),
            )
            self._SyncObj__transport.send(
                node, {"type": "pre_vote_response", "round": message["round"], "granted": granted}
            )
            return
        if self.is_leader():
            return
        if self._prevote.on_response(
            message["round"], message["granted"], self.raftCurrentTerm, len(self.otherNodes) + 1
        ):
            self._SyncObj__raftElectionDeadline = 0  # pysyncobj stands on its next tick

    @property
    def prevotes_started(self) -> int:
        return self._prevote.rounds_started

    @property
    def own_stalls_discounted(self) -> int:
        return self._check_quorum.stalls_discounted

    def _SyncObj__onNodeConnected(self, node: Any) -> None:
        """A deadline that ran out while this node had no connection would make every node stand
        at the instant the links come up (split votes); start a fresh random timeout instead."""
        super()._SyncObj__onNodeConnected(node)
        now = monotonic()
        if (
            self._SyncObj__raftState != _RAFT_STATE.LEADER
            and self._SyncObj__raftElectionDeadline < now
        ):
            self._SyncObj__raftElectionDeadline = now + self._SyncObj__generateRaftTimeout()

    # -------------------------------------------------------------- status

    def counters(self) -> RaftCounters:
        return RaftCounters(
            self.elections_started,
            self.leader_changes,
            self._prevote.rounds_started,
            self._check_quorum.stalls_discounted,
            self.acked_entries_truncated,
            self.commits_held,
            self.resets_lowered,
            self._SyncObj__transport.foreign_peers_refused,
        )

    def status(self) -> RaftStatus:
        leader = self._getLeader()
        match = _copy(self._SyncObj__raftMatchIndex)
        me = self.identity
        members = (
            []
            if self.learner
            else [
                MemberView(
                    me.node_id, me.address, me.grpc_address, True, True, self._journal.last_index
                )
            ]
        )
        for node in sorted(self.otherNodes, key=lambda n: n.address):
            if self.learner and node.address == me.address:
                continue
            members.append(
                MemberView(
                    getattr(node, "node_id", node.address),
                    node.address,
                    getattr(node, "grpc_address", ""),
                    False,
                    self.isNodeConnected(node),
                    match.get(node, 0),
                )
            )
        return RaftStatus(
            role=Role.LEARNER
            if self.learner
            else _RAFT_STATE_ROLES.get(self._SyncObj__raftState, Role.FOLLOWER),
            term=self.raftCurrentTerm,
            commit_index=self.raftCommitIndex,
            applied_index=self.raftLastApplied,
            leader_id=getattr(leader, "node_id", leader.address) if leader is not None else "",
            leader_grpc_address=getattr(leader, "grpc_address", "") if leader is not None else "",
            first_log_index=self._journal.first_index,
            last_log_index=self._journal.last_index,
            members=tuple(members),
            acked_entries_truncated=self.acked_entries_truncated,
        )

    # ------------------------------------------------- hooks into pysyncobj

    def _onTick(self, timeToWait: float = 0.0) -> None:
        if self._notifier is None:  # first tick: set up on the tick thread, which owns the poller
            self._notifier = PipeNotifier(self._poller)
            self._install_poll_timer()
        started = time.monotonic()
        self._message_s = self._last_snapshot_s = 0.0
        self._poll_started = 0.0
        self._journal.sync()  # the leader's own entries are durable before the commit count below
        try:
            while not self._tick_tasks.empty():
                self._tick_tasks.get_nowait()()
            tasks_s = time.monotonic() - started
            self._discount_own_stall(tasks_s)  # before pre-vote looks at the deadline
            self._pre_vote()
            self._step_down_without_quorum()
            super()._onTick(timeToWait)
        finally:
            self.flush_acks()
            if self.trace is not None:
                self.trace.flush()
        busy = (self._poll_started or time.monotonic()) - started + self._message_s
        self._discount_own_stall(busy - tasks_s)
        if busy > self.settings.election_min_s / 2:
            log.warning(
                "slow Raft tick: %.0f ms of work (messages %.0f ms, snapshot %.0f ms); peers may "
                "start an election",
                busy * 1000,
                self._message_s * 1000,
                self._last_snapshot_s * 1000,
            )

    def _discount_own_stall(self, stalled_s: float) -> None:
        """A follower's own stall (a snapshot, CPU starvation) is not its leader's silence: the
        leader's messages sent meanwhile wait unread in its sockets. As in check_quorum.py, a
        stall counts as at most half an election timeout of silence: the rest moves the election
        deadline (and pre-vote's leader contact, prevote.py rule 5) later by as much. Bounded,
        so that a follower whose every tick is slow still stands when its leader is gone, only
        later; not skipped, so that followers stalled together do not depose a leader that
        stalled with them (every node compacts at about the same log index)."""
        uncounted_s = stalled_s - self.settings.election_min_s / 2
        if uncounted_s <= 0 or self.learner or self._SyncObj__raftState != _RAFT_STATE.FOLLOWER:
            return
        self._SyncObj__raftElectionDeadline += uncounted_s
        self._prevote.on_own_stall(monotonic(), uncounted_s)
        self.follower_stalls_discounted += 1

    def _step_down_without_quorum(self) -> None:
        """Check-quorum (check_quorum.py): a leader that heard from no majority over one window
        of listening steps down."""
        last_response = self._SyncObj__lastResponseTime
        others = list(self.otherNodes)
        verdict = self._check_quorum.on_tick(
            monotonic(),
            self._isLeader(),
            [last_response.get(n, 0.0) for n in others],
            len(others) + 1,
        )
        if verdict is QuorumCheck.STEP_DOWN:
            log.warning(
                "no answer from a majority over %.0f ms of listening (%d peers); stepping down",
                self.settings.election_min_s * 1000,
                len(others),
            )
            self._SyncObj__setState(_RAFT_STATE.FOLLOWER)
            self._SyncObj__raftLeader = None

    def _install_poll_timer(self) -> None:
        """Records when each tick starts waiting in poll, so slow-tick warnings count work only."""
        real_poll = self._poller.poll

        def timed_poll(timeout: float) -> None:
            self._poll_started = time.monotonic()
            real_poll(timeout)

        self._poller.poll = timed_poll

    def _applyCommand(self, command: bytes, callback: Any, commandType: int | None = None) -> None:
        super()._applyCommand(command, callback, commandType)
        notifier = self._notifier
        if notifier is not None:
            # the pipe is full: the tick loop is awake anyway
            with contextlib.suppress(BlockingIOError):
                notifier.notify()

    def _checkCommandsToApply(self) -> None:
        """Drains the queue, then sends what it appended at once (no heartbeat wait), and syncs
        while the followers write theirs (Raft thesis 10.2.1: the leader's fsync leaves the
        commit's critical path). The leader counts itself toward a commit only in a later tick,
        after `_onTick`'s sync: never for an entry that is not durable here."""
        last = self._journal.last_index
        super()._checkCommandsToApply()
        if self._journal.last_index != last and self._isLeader():
            self._SyncObj__sendAppendEntries()
            self._journal.sync()

    def flush_acks(self) -> None:
        """Makes the log durable, then lets the acknowledgements and votes held during this tick
        go out (group commit on followers). The acknowledged index is recorded for the
        truncation tripwire."""
        transport = self._SyncObj__transport
        if not transport.pending_acks:
            return
        self._journal.sync()
        for _node, message in transport.pending_acks:
            if message.get("type") == "next_node_idx" and message.get("success"):
                self._acked = (self.raftCurrentTerm, int(message["next_node_idx"]) - 1)
        transport.send_pending_acks()

    def _SyncObj__doApplyCommand(self, command: bytes) -> Any:
        index = self.raftLastApplied + 1
        if self.trace is not None:
            self.trace.applied(index, self._journal.term_at(index) or 0)
        if command[:1] == ENTRY_PREFIX:
            result = self.replicated.apply(command[1:], index)
            self._journal.record_outcome(index, outcome_name(result))
            return result
        if command[:1] == MEMBERSHIP_PREFIX:
            change = self._SyncObj__parseChangeClusterRequest(command)
            self._membership.apply(change[0], member_of(change[2], added_index=index))
        return super()._SyncObj__doApplyCommand(command)

    def _SyncObj__onMessageReceived(self, node: Any, message: Any) -> None:
        started = time.monotonic()
        try:
            self._on_message(node, message)
        finally:
            self._message_s += time.monotonic() - started

    def _on_message(self, node: Any, message: Any) -> None:
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            return
        if kind in ("pre_vote", "pre_vote_response"):
            self._on_pre_vote_message(node, message)
            return
        current_append = kind == "append_entries" and message["term"] >= self.raftCurrentTerm
        if current_append:
            self._prevote.on_leader_contact(monotonic())
            if self.learner and self._learner_floor is None:
                self._learner_floor = int(message["commit_index"])
                if self._on_learner_floor is not None:
                    self._on_learner_floor(self._learner_floor)
        if current_append and "prevLogIdx" in message and "transmission" not in message:
            self._on_append(node, message)
            return
        next_index = self._SyncObj__raftNextIndex
        guard = self._log_guards and kind == "next_node_idx" and self._isLeader()
        before = next_index.get(node) if guard else None
        commit_before = self.raftCommitIndex
        super()._SyncObj__onMessageReceived(node, message)
        if current_append and "prevLogIdx" not in message:
            # A snapshot chunk (or the empty message a busy leader sends) proves nothing about this
            # follower's log: pysyncobj still raises the commit index to min(leader_commit,
            # last_local_index), over an unverified tail a deposed leader never committed. Only an
            # installed snapshot moves it (to the snapshot's index, now `raftLastApplied`).
            self._hold_commit(max(commit_before, self.raftLastApplied))
        if guard and node in next_index:
            guarded = guarded_next_index(
                before,
                next_index[node],
                success=bool(message["success"]),
                reset=bool(message["reset"]),
            )
            if guarded != next_index[node]:
                next_index[node] = guarded
                self.next_index_regressions_prevented += 1

    def _on_append(self, node: Any, message: dict[str, Any]) -> None:
        """A regular AppendEntries from a current leader: trimmed to what really conflicts
        (log_matching.plan_append), handled by pysyncobj, and its reset hint kept at or below
        a conflict this follower already reported (log_matching.RepairHint)."""
        if self._log_guards:
            message = self._trim_append(message)
        prev_index = int(message["prevLogIdx"])
        prev_present = self._journal.term_at(prev_index) is not None
        acks = self._SyncObj__transport.pending_acks
        held = len(acks)
        super()._SyncObj__onMessageReceived(node, message)
        for _to, ack in acks[held:]:
            if ack.get("type") != "next_node_idx":
                continue
            if ack["success"]:
                self._repair.accepted()
            elif ack["reset"]:
                hint = self._repair.rejected(
                    int(message["term"]), prev_index, prev_present, int(ack["next_node_idx"])
                )
                if hint != ack["next_node_idx"]:
                    ack["next_node_idx"] = hint
                    self.resets_lowered += 1

    def _hold_commit(self, proven_index: int) -> None:
        if self._SyncObj__raftCommitIndex > proven_index:
            self._SyncObj__raftCommitIndex = proven_index
            self._journal.setRaftCommitIndex(proven_index)
            self.commits_held += 1

    def _trim_append(self, message: dict[str, Any]) -> dict[str, Any]:
        entries = message.get("entries") or []
        plan = plan_append(
            self._journal, message["prevLogIdx"], message["prevLogTerm"], entries, message["term"]
        )
        if plan is None or (
            plan.prev_index == message["prevLogIdx"] and len(plan.entries) == len(entries)
        ):
            return message
        self.appends_trimmed += 1
        return {
            **message,
            "prevLogIdx": plan.prev_index,
            "prevLogTerm": plan.prev_term,
            "entries": list(plan.entries),
        }

    def _SyncObj__deleteEntriesFrom(self, fromIDx: int) -> None:
        term, acked = self._acked
        if term == self.raftCurrentTerm and fromIDx <= acked:
            self.acked_entries_truncated += acked - fromIDx + 1
            log.error(
                "truncating entries %d..%d that this node acknowledged in term %d",
                fromIDx,
                acked,
                term,
            )
        super()._SyncObj__deleteEntriesFrom(fromIDx)

    def _on_state_changed(self, old: int, new: int) -> None:
        role = _RAFT_STATE_ROLES.get(new, Role.FOLLOWER)
        if new == _RAFT_STATE.CANDIDATE:
            self.elections_started += 1
        if _RAFT_STATE.LEADER in (new, old):
            self.leader_changes += 1
        if new != _RAFT_STATE.LEADER:
            self.replicated.lose_leadership()
        log.info(
            "raft role %s -> %s (term %d)", _RAFT_STATE_ROLES.get(old), role, self.raftCurrentTerm
        )
        if self.on_role_change is not None:
            self.on_role_change(role)

    # --------------------------------------------------------------- snapshots

    def _write_snapshot(self, tmp_path: str, internal: tuple[Any, Any, Any]) -> None:
        """pysyncobj's serializer (tick thread): our state at `raftLastApplied`, no pickle."""
        started = time.monotonic()
        last, previous, _uncommitted_cluster = internal
        contents = snapshots.SnapshotContents(
            tuple(last),
            tuple(previous),
            self._membership.members(),
            self.replicated.snapshot_bytes(),
            self.cluster_id,
        )
        with open(tmp_path, "wb") as f:
            f.write(snapshots.encode(contents))
            f.flush()
            os.fsync(f.fileno())
        self._last_snapshot_s = time.monotonic() - started

    def _read_snapshot(self, path: str) -> tuple[Any, Any, list[TCPNode]]:
        """pysyncobj's deserializer (tick thread): at start-up or when the leader sends one."""
        try:
            with open(path, "rb") as f:
                contents = snapshots.decode(f.read())
            if contents.cluster_id and self.cluster_id and contents.cluster_id != self.cluster_id:
                raise ValueError(
                    f"it belongs to cluster {contents.cluster_id}, this node to {self.cluster_id}"
                )
            self.replicated.install(contents.state, contents.last_applied[1])
            self._membership.replace(contents.members)
            if self.trace is not None:
                self.trace.installed(contents.last_applied[1], contents.last_applied[2])
        except (OSError, ValueError) as exc:
            stop_node(f"cannot load the snapshot {path}: {exc}")
        members = [make_node(m.raft_address, m.node_id, m.grpc_address) for m in contents.members]
        return (contents.last_applied, contents.previous, members)


def _contained(callback: Callable[[Any, int], None]) -> Callable[[Any, int], None]:
    """pysyncobj runs an entry's callbacks before it advances raftLastApplied, so one that raised
    would make it apply the entry again on this node only: log it instead."""

    def call(result: Any, error: int) -> None:
        try:
            callback(result, error)
        except Exception:
            log.exception("a proposal callback failed; the entry stays applied once")

    return call


def member_of(node: Any, added_index: int = 0) -> MemberAddress:
    """A pysyncobj node as the rest of the code knows a member (the inverse of make_node)."""
    return MemberAddress(
        node.address,
        getattr(node, "node_id", node.address),
        getattr(node, "grpc_address", ""),
        added_index,
    )


def _copy(mapping: dict[Any, int]) -> dict[Any, int]:
    """A copy of a dict the tick thread may be changing (retry if it changes under us)."""
    for _ in range(10):
        try:
            return dict(mapping)
        except RuntimeError:
            continue
    return {}

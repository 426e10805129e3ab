"""The Raft node as the rest of the coordinator sees it: a small facade over pysyncobj.

Contract (everything outside coordinator/replication uses only this, a test enforces it):
- `propose(command, timeout_s) -> Result`: replicates a core command, waits until this node
  applied it and returns its result. Raises NoQuorum or Overloaded (certainly not applied),
  MembershipRefused, or OutcomeUnknown (maybe applied: retry with the same idempotency key).
  Never call it from the Raft tick thread.
- `propose_async(command, callback)`: the same without waiting; `callback(result, error)` runs
  on the tick thread with pysyncobj's FAIL_REASON (0 = applied) and must be quick.
- `propose_then(command, on_done)`: the same for callers outside replication: `on_done` gets the
  core's `Result`, or the `ProposalError` saying why it was not (or maybe not) applied.
- `is_leader()`, `term()`, `has_quorum()` (connected to a majority of voters), `leader()` (the
  member this node believes leads, or None), `voters()` (the configuration as this node sees it),
  `status()` (one consistent view for Status and metrics), `reachability()`, `counters()`.
- Membership: `change_membership("add" | "remove", member, timeout_s)`, one change at a time;
  `transfer_leadership(to_node_id, timeout_s)`; `promotion_committed()` (a learner's question).
- `stop()`: stops ticking, syncs and closes the journal. The node must be constructed on a
  thread that outlives it (pysyncobj stops ticking when that thread ends).

Members are `MemberAddress` values (Raft address, node id, gRPC address); pysyncobj's node
objects, state numbers and `_SyncObj__*` attributes never leave coordinator/replication.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from coordinator.core.commands import Command
from coordinator.core.results import Result
from coordinator.replication.journal import RocksJournal
from coordinator.replication.membership import Reachability
from coordinator.replication.proposals import (
    MembershipRefused,
    NoQuorum,
    OutcomeUnknown,
    Overloaded,
    ProposalError,
    outcome_of,
)
from coordinator.replication.settings import PEER_WIRE_SEALED, RaftSettings
from coordinator.replication.snapshots import MemberAddress
from coordinator.replication.state import ReplicatedState
from coordinator.replication.syncobj_patch import (
    CoordinatorSyncObj,
    MemberView,
    RaftCounters,
    RaftStatus,
    make_node,
    member_of,
)

__all__ = [
    "MemberAddress",
    "MemberView",
    "MembershipRefused",
    "NoQuorum",
    "OutcomeUnknown",
    "Overloaded",
    "ProposalError",
    "RaftCounters",
    "RaftNode",
    "RaftSettings",
    "RaftStatus",
]


class RaftNode:
    """One Raft member of this process (see the module contract)."""

    def __init__(
        self,
        *,
        identity: MemberAddress,
        peers: Sequence[MemberAddress],
        settings: RaftSettings,
        cluster_secret: str,
        bind_address: str,
        journal: RocksJournal,
        replicated: ReplicatedState,
        cluster_id: str,
        dial_table: Mapping[str, str] | None = None,
        log_guards: bool = True,
        learner: bool = False,
        learner_floor: int | None = None,
        on_learner_floor: Callable[[int], None] | None = None,
        peer_wire: str = PEER_WIRE_SEALED,
    ) -> None:
        self.identity = identity
        self.settings = settings
        self.replicated = replicated
        self.journal = journal
        self.learner = learner
        self.cluster_id = cluster_id
        self._sync = CoordinatorSyncObj(
            self_node=_node(identity),
            peers=[_node(p) for p in peers],
            settings=settings,
            cluster_secret=cluster_secret,
            bind_address=bind_address,
            journal=journal,
            replicated=replicated,
            dial_table=dial_table,
            log_guards=log_guards,
            learner=learner,
            learner_floor=learner_floor,
            on_learner_floor=on_learner_floor,
            cluster_id=cluster_id,
            peer_wire=peer_wire,
        )

    # ------------------------------------------------------------------ commands

    def propose(self, command: Command, timeout_s: float) -> Result:
        return self._sync.propose(command, timeout_s)

    def propose_async(self, command: Command, callback: Callable[[Any, int], None]) -> None:
        self._sync.propose_async(command, callback)

    def propose_then(
        self, command: Command, on_done: Callable[[Result | ProposalError], None]
    ) -> None:
        """Queues `command` without waiting; `on_done` runs once with the result or the
        ProposalError: on the tick thread, or at once on the caller's thread when the proposal
        queue is full (Overloaded). It must be quick (it delays every other proposal)."""
        self._sync.propose_async(
            command, lambda result, reason: on_done(outcome_of(result, reason))
        )

    # ------------------------------------------------------------------- reading

    def is_leader(self) -> bool:
        return self._sync.is_leader()

    def term(self) -> int:
        return int(self._sync.raftCurrentTerm)

    def has_quorum(self) -> bool:
        return bool(self._sync.hasQuorum)

    def leader(self) -> MemberAddress | None:
        node = self._sync.leader_node()
        return None if node is None else member_of(node)

    def voters(self) -> tuple[MemberAddress, ...]:
        """The voters in this node's configuration (appended changes included), itself too unless
        it is a learner."""
        others = tuple(member_of(n) for n in sorted(self._sync.otherNodes, key=lambda n: n.address))
        return others if self.learner else (self.identity, *others)

    def status(self) -> RaftStatus:
        return self._sync.status()

    def reachability(self) -> Reachability:
        return self._sync.reachability()

    def counters(self) -> RaftCounters:
        return self._sync.counters()

    # ---------------------------------------------------------------- membership

    def change_membership(self, action: str, member: MemberAddress, timeout_s: float) -> None:
        """Adds or removes one voter and waits until the change is applied here."""
        node = _node(member)
        if action == "remove":
            node = next(
                (n for n in self._sync.otherNodes if n.address == member.raft_address), node
            )
        self._sync.change_membership(action, node, timeout_s)

    def transfer_leadership(self, to_node_id: str | None, timeout_s: float) -> str:
        """Hands leadership to `to_node_id` (None: the most caught-up voter); returns the new
        leader's node id. Raises MembershipRefused; ValueError if `to_node_id` is no other voter."""
        target = None
        if to_node_id:
            target = next(
                (
                    n
                    for n in self._sync.otherNodes
                    if getattr(n, "node_id", n.address) == to_node_id
                ),
                None,
            )
            if target is None:
                raise ValueError(f"{to_node_id!r} is not another voter")
        return self._sync.transfer_leadership(target, timeout_s)

    def promotion_committed(self) -> bool:
        return self._sync.promotion_committed()

    # --------------------------------------------------------------- instruments

    def hold_tick(self, seconds: float) -> None:
        """Failpoints only (instruments.py): the tick thread sleeps `seconds` once, as it does
        while it snapshots a large state."""
        self._sync.run_on_tick(lambda: time.sleep(seconds))

    # ------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        self._sync.destroy_synchronous()


def _node(member: MemberAddress) -> Any:
    return make_node(member.raft_address, member.node_id, member.grpc_address)

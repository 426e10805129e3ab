"""Membership safety: the one majority rule, and whether a change may be made at all.

Pure; used by the Raft layer (pre-vote, check-quorum), the Admin service that changes
membership, the CLI that explains a refusal, and the chaos nemesis that predicts one.

pysyncobj applies a configuration change when it is *appended* (Raft thesis, section 4.1), so
the change itself must commit under the new configuration. A node being added joins as a
learner on a read-only connection: it cannot acknowledge as a voter until the committed change
promotes it. Hence, counting only voters reachable now:
- adding one node: the reachable voters must be a majority of `voters + 1`;
- removing one: the reachable voters other than the one removed must be a majority of
  `voters - 1`, and at least one voter must remain.
Counting the learner as reachable (as this project once did) lets a 3-voter cluster with one
voter down accept an add that leaves 2 of 4 voters able to acknowledge: nothing, not even the
removal that would undo it, commits until the dead voter returns (issue 8, defect 3).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator.replication.snapshots import MemberAddress


def is_majority(count: int, voters: int) -> bool:
    """`count` voters (the deciding node included) are a majority of `voters`."""
    return count > voters / 2


def majority_of(voters: int) -> int:
    return voters // 2 + 1


class VoterLink(Protocol):
    """One voter as a member list shows it (coordinator.v1.Member has these fields)."""

    connected: bool
    is_self: bool


@dataclass(frozen=True, slots=True)
class Reachability:
    """What the leader sees: voters it is connected to (itself included), and all voters."""

    reachable: int
    voters: int

    @classmethod
    def of(cls, members: Sequence[VoterLink]) -> Reachability:
        """From the leader's member list (ListMembers or Status)."""
        return cls(sum(1 for m in members if m.connected or m.is_self), len(members))


def refuse_add(now: Reachability, node_id: str) -> str | None:
    """Why adding `node_id` as a voter must be refused, or None if it may proceed."""
    after = now.voters + 1
    if is_majority(now.reachable, after):
        return None
    return (
        f"adding {node_id} would make {after} voters of which only {now.reachable} can acknowledge "
        f"until it is promoted; a majority ({majority_of(after)}) is needed for the change itself "
        "to commit. Remove the unreachable voter first (coordinator members remove), then add the "
        "new node."
    )


def refuse_remove(now: Reachability, node_id: str, target_reachable: bool) -> str | None:
    """Why removing `node_id` must be refused, or None if it may proceed."""
    after = now.voters - 1
    reachable_after = now.reachable - (1 if target_reachable else 0)
    if after >= 1 and is_majority(reachable_after, after):
        return None
    return (
        f"removing {node_id} would leave {reachable_after} of {after} voters reachable from the "
        f"leader; a majority ({majority_of(max(after, 1))}) is needed to keep committing. Bring "
        "the missing nodes back first."
    )


# ------------------------------------------------------------------ the committed membership


class Promotion(enum.Enum):
    WAIT = "wait"  # no committed change names this node a voter (yet)
    PROMOTE = "promote"  # a change committed after it joined made it a voter
    # it was a voter before it joined: it lost the data that voter acknowledged
    AMNESIA = "amnesia"


class CommittedMembership:
    """The voters as of the last applied (so committed) entry, with the index of the change that
    added each (0 for the founding members), keyed by exact Raft address.

    Every node builds the same view from the same log: the founding members, then each applied
    membership change, or an installed snapshot's members. Snapshots carry this view, never
    pysyncobj's, which includes changes appended but not yet committed: a change a deposed
    leader appended and lost would otherwise live on in followers that installed its snapshot
    (issue 8, defect 7). A learner decides its promotion from it, not from its live log, whose
    add entry may have been compacted away (defect 4)."""

    def __init__(self, founders: Iterable[MemberAddress]) -> None:
        self._members = {m.raft_address: m for m in founders}

    def apply(self, action: str, member: MemberAddress) -> None:
        """A committed change: `add` (with the member's `added_index`) or `rem`. Adding a current
        member changes nothing, as in pysyncobj."""
        if action == "add":
            self._members.setdefault(member.raft_address, member)
        elif action == "rem":
            self._members.pop(member.raft_address, None)

    def replace(self, members: Iterable[MemberAddress]) -> None:
        """An installed snapshot's membership."""
        self._members = {m.raft_address: m for m in members}

    def get(self, raft_address: str) -> MemberAddress | None:
        return self._members.get(raft_address)

    def members(self) -> tuple[MemberAddress, ...]:
        return tuple(sorted(self._members.values(), key=lambda m: m.raft_address))

    def promotion(self, raft_address: str, learner_floor: int | None) -> Promotion:
        """A learner's question. `learner_floor` is the commit index its first AppendEntries
        carried: a change at or below it was made before this learner existed, so a voter with
        its address there is a node that lost its data directory, which must not vote."""
        member = self._members.get(raft_address)
        if member is None or learner_floor is None:
            return Promotion.WAIT
        return Promotion.PROMOTE if member.added_index > learner_floor else Promotion.AMNESIA

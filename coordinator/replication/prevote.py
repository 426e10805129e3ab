"""Pre-vote with leader stickiness (Raft thesis, section 9.6), pure: `now` is passed in.

A node whose election deadline passes does not stand at once: it asks the other voters whether
they would vote for it, and stands only once a majority said yes. A voter that heard from a live
leader recently says no, so a node that was paused or cut off cannot depose a healthy leader
when it comes back (its term would otherwise force an election on the majority).

Rules:
1. When the deadline passes, the node starts a round: `Ask(round, term + 1, last log)` to every
   other voter, counting its own vote. pysyncobj's election is held off until the next round.
2. A voter grants iff the candidate's term is above its own, the candidate's log is at least as
   up to date (Raft section 5.4.1), it is not the leader, and it has not heard from a leader
   within `stickiness_s`.
3. A round is won when a majority, the candidate included, granted it; the node then stands at
   once (`Stand`), in the term it won in.
4. Contact from a current leader forgets a won round (issue 8, defect 5): a node that won
   during a leader's stall and then heard the leader again would otherwise, at its next
   deadline, stand without asking and depose a healthy leader.
5. A stall of the node's own thread (a snapshot, CPU starvation) is not the leader's silence:
   while it stalled, the leader's messages waited unread in its sockets. The part of a stall
   that syncobj_patch does not count as silence moves the last leader contact later by as much
   (`on_own_stall`), never past now. Every node compacts at about the same log index; without
   this rule, followers stalled together grant each other's pre-votes the moment they resume and
   depose the leader that stalled with them.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.replication.membership import is_majority

LogPosition = tuple[int, int]  # (last log term, last log index)


@dataclass(frozen=True, slots=True)
class Ask:
    """Send a pre-vote request for `round` to every other voter."""

    round: int
    term: int


@dataclass(frozen=True, slots=True)
class Stand:
    """A round was won in this term: let the election start now."""


class PreVote:
    def __init__(self, stickiness_s: float) -> None:
        self.stickiness_s = stickiness_s
        self.round = 0
        self.rounds_started = 0
        self._votes = 0
        self._won_term: int | None = None
        self._leader_contact: float | None = None

    def on_leader_contact(self, now: float) -> None:
        """An AppendEntries from a leader of the current term (or a newer one) arrived."""
        self._leader_contact = now
        self._won_term = None

    def on_own_stall(self, now: float, uncounted_s: float) -> None:
        """This node resumed at `now` from a stall of which `uncounted_s` is not counted as the
        leader's silence (rule 5). A node that never heard from a leader gains nothing."""
        if self._leader_contact is not None:
            self._leader_contact = min(now, self._leader_contact + uncounted_s)

    def on_deadline(self, term: int) -> Ask | Stand:
        """The election deadline passed in `term` (rule 1 or 3)."""
        if self._won_term == term:
            return Stand()
        self._won_term = None
        self.round += 1
        self.rounds_started += 1
        self._votes = 1
        return Ask(self.round, term + 1)

    def grants(
        self,
        now: float,
        candidate_term: int,
        candidate_log: LogPosition,
        my_term: int,
        my_log: LogPosition,
        is_leader: bool,
    ) -> bool:
        """Whether this voter would vote for the candidate (rule 2)."""
        recently = (
            self._leader_contact is not None and now - self._leader_contact < self.stickiness_s
        )
        return (
            candidate_term > my_term and candidate_log >= my_log and not is_leader and not recently
        )

    def on_response(self, round_: int, granted: bool, term: int, voters: int) -> bool:
        """Counts one answer; True when it wins the current round (rule 3)."""
        if round_ != self.round or not granted:
            return False
        self._votes += 1
        if self._won_term != term and is_majority(self._votes, voters):
            self._won_term = term
            return True
        return False

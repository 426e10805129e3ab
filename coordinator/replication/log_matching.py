"""Guards that stop pysyncobj from truncating log entries a follower has acknowledged.

The defect (../shared/research/pysyncobj.md, section 2): the leader advances `nextIndex`
optimistically as it sends, and a later success acknowledgement sets it *back* to what the
follower had at that time. The leader then resends from an older `prevLogIdx`, and the
follower's AppendEntries handler deletes everything after `prevLogIdx` whenever its log is
longer, whether or not anything conflicts, then re-adds one batch. Entries it had acknowledged
(counted toward a commit by the leader) and sometimes applied disappear for a while; if the
leader dies in that window, a committed entry can be lost.

Three guards, pure functions and one small memory, over a read-only view of the log:
- `plan_append` (follower): rewrite an AppendEntries so that only entries that really conflict
  are deleted (Raft paper, section 5.3, AppendEntries receiver rule 3: "If an existing entry
  conflicts with a new one (same index but different terms), delete the existing entry and
  all that follow it"). Entries that are already present and match are skipped.
- `guarded_next_index` (leader): a success acknowledgement may raise `nextIndex` but never
  lower it; only a follower's explicit reset (a real mismatch) may.
- `RepairHint` (follower): a reset never points the leader past an entry this follower already
  found to conflict with the leader's log in this term. pysyncobj pipelines several
  AppendEntries per round and each reset overwrites the leader's `nextIndex`: the first message
  of a round fails on the conflict and resets it down, the later ones (whose `prevLogIdx` lies
  beyond the follower's log) reset it back up to the follower's `last + 1`, and the next round
  starts there again. A divergent tail older than one batch (64 KiB) then never heals until a
  snapshot replaces it. Raft section 5.3: "After a rejection, the leader decrements nextIndex
  and retries"; a follower that knows its entry at `c` conflicts can only truthfully say
  "retry at or below c".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Entry = tuple[bytes, int, int]  # (command, index, term)


class LogView(Protocol):
    @property
    def first_index(self) -> int: ...

    @property
    def last_index(self) -> int: ...

    def term_at(self, index: int) -> int | None: ...


@dataclass(frozen=True, slots=True)
class AppendPlan:
    """What to hand pysyncobj's handler instead: after `prev_index` it deletes every entry and
    appends `entries`, so `prev_index` must be the last entry we keep."""

    prev_index: int
    prev_term: int
    entries: Sequence[Entry]


def plan_append(
    log: LogView, prev_index: int, prev_term: int, entries: Sequence[Entry], leader_term: int
) -> AppendPlan | None:
    """How to apply an AppendEntries without deleting entries that do not conflict.

    None means: pass the message through unchanged (the consistency check at `prev_index`
    fails or cannot be made, and pysyncobj answers with a reset, which is correct).
    """
    last = log.last_index
    if prev_index < log.first_index or prev_index > last or log.term_at(prev_index) != prev_term:
        return None
    matched = 0
    for _command, index, term in entries:
        if index > last or log.term_at(index) != term:
            break
        matched += 1
    if matched < len(entries):
        # Keep everything up to the last matching entry; the rest of our log conflicts with (or
        # lies beyond) the leader's, so deleting it from there on is exactly rule 3.
        new_prev = prev_index + matched
        new_prev_term = prev_term if matched == 0 else entries[matched - 1][2]
        return AppendPlan(new_prev, new_prev_term, entries[matched:])
    end = prev_index + len(entries)
    end_term = prev_term if not entries else entries[-1][2]
    if end < last and log.term_at(last) == leader_term:
        # Everything sent is already here, and our log goes further with entries this leader
        # wrote (the only writer of its term): by the Log Matching property our whole log
        # matches the leader's up to `last`, so keep it and acknowledge it all.
        return AppendPlan(last, leader_term, ())
    # Either nothing extends past the message, or the tail beyond it is from an older term and
    # has not been verified against this leader: pysyncobj may drop it (it is uncommitted).
    return AppendPlan(end, end_term, ())


def guarded_next_index(before: int | None, after: int, *, success: bool, reset: bool) -> int:
    """The leader's `nextIndex` for a follower after an acknowledgement: a success may only
    move it forward; a reset (the follower found a real mismatch) may move it anywhere."""
    if before is None or reset or not success:
        return after
    return max(before, after)


class RepairHint:
    """A follower's memory, within one leader term, of the lowest index at which its log was
    found to conflict with the leader's (see the module header). Pure; the tick thread owns it."""

    def __init__(self) -> None:
        self._term = -1
        self._conflict: int | None = None

    @property
    def conflict(self) -> int | None:
        return self._conflict

    def rejected(self, term: int, prev_index: int, prev_present: bool, hint: int) -> int:
        """The `next_node_idx` to send with a reset. `prev_present`: this follower has an entry
        at `prev_index` (so the check failed on its term: that entry conflicts); otherwise the
        check failed because `prev_index` lies outside its log and `hint` is its `last + 1`."""
        if term != self._term:
            self._term, self._conflict = term, None
        if prev_present:
            self._conflict = (
                prev_index if self._conflict is None else min(self._conflict, prev_index)
            )
            return hint
        return hint if self._conflict is None else min(hint, self._conflict)

    def accepted(self) -> None:
        """An AppendEntries matched: the log now agrees with the leader's up to what it acked,
        and pysyncobj dropped the conflicting entries after it."""
        self._conflict = None

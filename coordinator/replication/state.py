"""The state machine as the replication layer runs it.

Owns the core `CoordinatorState` and the one lock that serializes the apply (pysyncobj's tick
thread) with reads (gRPC threads), feeds the Raft leader's lease timer after every change of
leadership, and wakes `Observe` streams.

`apply` is total: an entry it cannot decode becomes a refusal (INVALID_COMMAND), a refusal is a
result, and only a programmer error inside the core (a broken invariant) escapes, in which case
the node stops (fatal.py) rather than serve a state that may have diverged. pysyncobj would
otherwise re-apply a raising entry forever and wedge the whole cluster.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from coordinator.core.lease import DueLease, LeaseTimer
from coordinator.core.model import Leadership
from coordinator.core.refusals import Reason
from coordinator.core.results import Refused, Result
from coordinator.core.state import CoordinatorState
from coordinator.replication.envelope import EnvelopeError, decode
from coordinator.replication.fatal import stop_node

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReplicatedState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state = CoordinatorState()
        self._timer = LeaseTimer()
        self._leadership = self._state.leadership()
        self._leadership_seq = 0
        self._applied_index = 0
        self._digest: tuple[int, str] | None = None
        self.on_applied: Callable[[str, Result, float], None] | None = None

    # ------------------------------------------------------------------ apply

    def apply(self, payload: bytes, index: int) -> Result:
        """Applies the log entry at `index`. Never raises for any `payload`."""
        try:
            command, issued_at_ns = decode(payload)
        except EnvelopeError as exc:
            log.warning("entry %d is not a command this node understands: %s", index, exc)
            return Refused(Reason.INVALID_COMMAND, f"unreadable log entry: {exc}", exc.field)
        started = time.perf_counter()
        with self._lock:
            try:
                result = self._state.apply(command, issued_at_ns)
            # a bug in the core: this node's state can no longer be trusted
            except Exception as exc:
                log.exception("the state machine failed on entry %d (%r)", index, command)
                stop_node(f"state machine invariant broken at log entry {index}: {exc!r}")
            self._applied_index = index
            self._after_change()
        if self.on_applied is not None:
            try:
                self.on_applied(type(command).__name__, result, time.perf_counter() - started)
            except Exception:  # an observer must never make pysyncobj apply this entry again
                log.exception(
                    "an apply observer failed on entry %d; the entry stays applied once", index
                )
        return result

    def install(self, snapshot: bytes, index: int) -> None:
        """Replaces the whole state with a snapshot (start-up, or one sent by the leader).
        Raises ValueError (SnapshotError) if the bytes are not a state snapshot."""
        state = CoordinatorState.restore(snapshot)
        state.snapshot()  # fills the per-record encoding cache now, not during a later compaction
        with self._lock:
            self._state = state
            self._applied_index = index
            self._after_change()

    def _after_change(self) -> None:
        leadership = self._state.leadership()
        if leadership != self._leadership:
            self._leadership = leadership
            self._timer.observe(leadership.holder, time.monotonic_ns())
            self._leadership_seq += 1
            self._changed.notify_all()

    # -------------------------------------------------------------- reading

    def read(self, query: Callable[[CoordinatorState], T]) -> T:
        """Runs a read-only query against the applied state, consistently."""
        with self._lock:
            return query(self._state)

    def snapshot_bytes(self) -> bytes:
        with self._lock:
            return self._state.snapshot()

    def digest(self) -> tuple[int, str]:
        """(applied index, sha256 of the state at that index), cached per index."""
        with self._lock:
            if self._digest is None or self._digest[0] != self._applied_index:
                self._digest = (
                    self._applied_index,
                    hashlib.sha256(self._state.snapshot()).hexdigest(),
                )
            return self._digest

    @property
    def applied_index(self) -> int:
        return self._applied_index

    def wait_leadership_change(
        self, seen_seq: int, timeout_s: float
    ) -> tuple[int, Leadership, int]:
        """Blocks until the leadership differs from version `seen_seq` (or the timeout) and
        returns (version, leadership, applied index)."""
        with self._changed:
            if self._leadership_seq == seen_seq:
                self._changed.wait(timeout_s)
            return self._leadership_seq, self._leadership, self._applied_index

    # ---------------------------------------------------- the leader's lease timer

    def lease_due(self, now_ns: int) -> DueLease | None:
        with self._lock:
            return self._timer.due(now_ns)

    def lease_armed(self) -> bool:
        with self._lock:
            return self._timer.armed

    def arm_lease_timer(self) -> None:
        with self._lock:
            self._timer.arm(time.monotonic_ns())

    def lose_leadership(self) -> None:
        with self._lock:
            self._timer.disarm()

    def lease_remaining_ms(self) -> int | None:
        """Remaining lease as this node times it, or None when it is not timing one."""
        with self._lock:
            if not self._timer.armed:
                return None
            return self._timer.remaining_ms(time.monotonic_ns())

"""The Raft leader's lease timer thread: a thin loop around the pure `LeaseTimer`.

Only the Raft leader acts. After it becomes leader it proposes a barrier; once the barrier
has applied in its term (so it holds every committed grant and keep-alive), the timer is
armed, restarting the current lease at its full TTL. When the lease is due it proposes
`Expire(epoch, lease_seq)`, which the state machine applies only if that exact lease is still
current. Losing leadership disarms the timer (`ReplicatedState.lose_leadership`).

An Expire in flight is proposed again if it has not answered within `expire_retry_s`, and
forgotten on every change of leadership: its callback may never fire (its index skipped by a
snapshot install, or the leader deposed before it committed), and waiting on it would leave a
dead engine holding the role (issue 8, defect 8). Proposing the same Expire twice is harmless:
the state machine applies it only while that exact lease is current.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from coordinator.core.commands import Barrier, Command, Expire
from coordinator.core.lease import DueLease
from coordinator.core.results import Ack
from coordinator.replication.state import ReplicatedState

log = logging.getLogger(__name__)


class LeaderView(Protocol):
    """What the keeper needs of a Raft node (the facade in raft.py is one)."""

    replicated: ReplicatedState

    def is_leader(self) -> bool: ...

    def term(self) -> int: ...

    def propose_async(self, command: Command, callback: Callable[[Any, int], None]) -> None: ...


class LeaseKeeper:
    def __init__(
        self, raft: LeaderView, period_s: float = 0.005, expire_retry_s: float = 2.0
    ) -> None:
        self._raft = raft
        self._state = raft.replicated
        self._period_s = period_s
        self._expire_retry_ns = int(expire_retry_s * 1e9)
        self._stop = threading.Event()
        self._barrier_term: int | None = None
        # the Expire in flight, and when it was proposed
        self._expiring: tuple[DueLease, int] | None = None
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self._period_s):
            try:
                self.step(time.monotonic_ns())
            except Exception:  # keep timing: one failed proposal must not end lease expiry
                log.exception("lease keeper step failed")

    def step(self, now_ns: int) -> None:
        if not self._raft.is_leader():
            self._barrier_term = None
            self._expiring = None
            return
        term = self._raft.term()
        if not self._state.lease_armed():
            self._expiring = None
            if self._barrier_term != term:
                self._barrier_term = term
                self._raft.propose_async(Barrier(), lambda _r, error: self._on_barrier(term, error))
            return
        due = self._state.lease_due(now_ns)
        if due is None or self._in_flight(due, now_ns):
            return
        self._expiring = (due, now_ns)
        log.info(
            "lease of epoch %d (renewal %d) expired; proposing Expire", due.epoch, due.lease_seq
        )
        self._raft.propose_async(
            Expire(due.epoch, due.lease_seq),
            lambda result, error: self._on_expired(due, result, error),
        )

    def _in_flight(self, due: DueLease, now_ns: int) -> bool:
        return (
            self._expiring is not None
            and self._expiring[0] == due
            and now_ns - self._expiring[1] < self._expire_retry_ns
        )

    def _on_barrier(self, term: int, error: int) -> None:
        if error == 0 and self._raft.is_leader() and self._raft.term() == term:
            self._state.arm_lease_timer()
            log.info("lease timer armed in term %d", term)
        elif self._barrier_term == term:
            self._barrier_term = None  # try again on the next step

    def _on_expired(self, due: DueLease, result: Any, error: int) -> None:
        expiring = self._expiring
        if (
            (error != 0 or not isinstance(result, Ack))
            and expiring is not None
            and expiring[0] == due
        ):
            self._expiring = None  # not applied or superseded: re-evaluate on the next step

"""When the execution role's lease is due to expire, as the Raft leader times it.

Pure bookkeeping: `now_ns` (a monotonic clock reading) is always passed in; the thin timer
thread around it lives in coordinator.replication.leases. This is not replicated state: each
node keeps its own `LeaseTimer`, fed from the leases it applies, and only the Raft leader acts
on it, and only once it is *armed*: after a barrier it proposed in its own term has applied.

Rules (DESIGN.md, "The fencing protocol"):
- The deadline counts from when this node applied the grant or the last keep-alive, which is
  never earlier than when the engine sent it. The engine counts from its send time and stops
  a safety margin before its TTL, so it always gives up before the coordinator can expire it.
- A new Raft leader restarts the lease at its full TTL: leases only ever lengthen on a leader
  change, never shorten.
- `due` names the lease by (epoch, lease_seq). The Expire it leads to is applied only if no
  keep-alive was applied in between, so an expiry can never cut a just-renewed lease.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.model import Lease


@dataclass(frozen=True, slots=True)
class DueLease:
    epoch: int
    lease_seq: int


class LeaseTimer:
    def __init__(self) -> None:
        self._epoch = 0
        self._lease_seq = 0
        self._ttl_ns = 0
        self._deadline_ns: int | None = None
        self._armed = False

    @property
    def armed(self) -> bool:
        return self._armed

    def observe(self, lease: Lease | None, now_ns: int) -> None:
        """Feeds the lease as the state machine holds it right after an apply."""
        if lease is None:
            self._deadline_ns = None
            self._epoch = 0
            return
        if (lease.epoch, lease.lease_seq) == (
            self._epoch,
            self._lease_seq,
        ) and self._deadline_ns is not None:
            return
        previous = self._deadline_ns if lease.epoch == self._epoch else None
        self._epoch, self._lease_seq = lease.epoch, lease.lease_seq
        self._ttl_ns = lease.ttl_ms * 1_000_000
        candidate = now_ns + self._ttl_ns
        self._deadline_ns = candidate if previous is None else max(previous, candidate)

    def arm(self, now_ns: int) -> None:
        """This node became Raft leader and its barrier applied: restart at the full TTL."""
        self._armed = True
        if self._deadline_ns is not None:
            self._deadline_ns = max(self._deadline_ns, now_ns + self._ttl_ns)

    def disarm(self) -> None:
        """This node is no longer the Raft leader."""
        self._armed = False

    def due(self, now_ns: int) -> DueLease | None:
        """The lease to expire now, if this node is armed and the deadline has passed."""
        if not self._armed or self._deadline_ns is None or now_ns < self._deadline_ns:
            return None
        return DueLease(self._epoch, self._lease_seq)

    def remaining_ms(self, now_ns: int) -> int | None:
        """Milliseconds left on the lease as timed here, or None when no lease is held."""
        if self._deadline_ns is None:
            return None
        return max(0, (self._deadline_ns - now_ns) // 1_000_000)

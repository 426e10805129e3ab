"""The client's decisions, without I/O: which failures to retry, how long to back off, and the
engine session's lease arithmetic and state. Times are monotonic nanoseconds passed in, so the
blocking and asyncio adapters share this code and tests drive it with a fake clock.

Retry rules (a refusal is never retried; everything else is retried with the *same* request,
hence the same idempotency key):
- NO_QUORUM, OVERLOADED: not applied; retry after a backoff.
- OUTCOME_UNKNOWN, UNAVAILABLE without a reason (the connection failed), DEADLINE_EXCEEDED,
  CANCELLED, INTERNAL, UNKNOWN: maybe applied; retry, and the stored result will say.

Lease rule (DESIGN.md, "The fencing protocol"): the engine counts its lease from the moment it
*sent* the campaign or keep-alive that the coordinator acknowledged, and considers itself
demoted `margin` before that lease would end. The coordinator counts from when it applied the
same command, which is later, so the engine always stops first.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from coordinator.client.errors import Unavailable, refusal

MS = 1_000_000
REFUSAL_CODES = frozenset({"FAILED_PRECONDITION", "NOT_FOUND", "INVALID_ARGUMENT", "ALREADY_EXISTS",
                           "PERMISSION_DENIED", "UNAUTHENTICATED", "UNIMPLEMENTED", "OUT_OF_RANGE"})
NOT_APPLIED_REASONS = frozenset({"NO_QUORUM", "OVERLOADED"})
LEASE_EXPIRED = "lease expired: no keep-alive was acknowledged in time"


class Verdict(enum.Enum):
    REFUSED = "refused"              # raise the typed refusal; never retry
    RETRY_NOT_APPLIED = "retry"      # definitely not applied; retry after backoff
    RETRY_MAYBE_APPLIED = "maybe"    # may have been applied; retry with the same key


def classify(code: str, reason: str) -> Verdict:
    """What a failed call means. `code` is the gRPC status name, `reason` the ErrorInfo reason."""
    if code in REFUSAL_CODES and reason not in NOT_APPLIED_REASONS:
        return Verdict.REFUSED
    if reason in NOT_APPLIED_REASONS or code == "RESOURCE_EXHAUSTED":
        return Verdict.RETRY_NOT_APPLIED
    return Verdict.RETRY_MAYBE_APPLIED


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded, exponential backoff. `budget_ms` bounds the whole call, retries included."""

    call_timeout_ms: int = 2000
    budget_ms: int = 10_000
    backoff_initial_ms: int = 20
    backoff_max_ms: int = 500
    max_attempts: int = 50

    def backoff_ns(self, attempt: int, jitter: float) -> int:
        """Delay before attempt `attempt` (1-based retry count); `jitter` in [0, 1)."""
        base = min(self.backoff_max_ms, self.backoff_initial_ms * (2 ** min(attempt - 1, 16)))
        return int(base * (0.5 + jitter / 2) * MS)

    def next_delay_ns(self, attempt: int, started_ns: int, now_ns: int, give_up_ns: int | None,
                      jitter: float) -> int | None:
        """How long to wait before retrying, or None when the budget (or `give_up_ns`) is spent."""
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff_ns(attempt, jitter)
        limit = started_ns + self.budget_ms * MS
        if give_up_ns is not None:
            limit = min(limit, give_up_ns)
        return None if now_ns + delay >= limit else delay


class SessionState(enum.Enum):
    STANDBY = "standby"      # campaigning / waiting for the role to free
    ACTIVE = "active"        # holds the role at `epoch` until `valid_until_ns`
    PASSIVE = "passive"      # resigned or closed: does not campaign


@dataclass(frozen=True, slots=True)
class Campaign:
    at_ns: int


@dataclass(frozen=True, slots=True)
class KeepAlive:
    epoch: int
    deadline_ns: int          # give up on this keep-alive at this time (the lease's end)


@dataclass(frozen=True, slots=True)
class Demote:
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    until_ns: int


Action = Campaign | KeepAlive | Demote | Wait


@dataclass
class SessionCore:
    """Sans-I/O state of one engine's session. The adapter asks `next_action(now)`, performs
    it, and reports back through the `on_*` methods; `Demote` must be acted on at once."""

    engine_id: str
    ttl_ms: int
    margin_ms: int
    keepalive_interval_ms: int
    campaign_retry_ms: int
    state: SessionState = SessionState.STANDBY
    epoch: int = 0
    valid_until_ns: int = 0
    next_keepalive_ns: int = 0
    next_campaign_ns: int = 0
    last_epoch_held: int = 0
    demotions: list[str] = field(default_factory=list)
    handoff_seen: tuple[int, str] | None = None

    @staticmethod
    def for_ttl(engine_id: str, ttl_ms: int, margin_ms: int | None = None,
                keepalives_per_ttl: int = 5) -> SessionCore:
        """Defaults: keep-alive 5 times per TTL; margin a fifth of the TTL (at least 20 ms)."""
        margin = margin_ms if margin_ms is not None else max(20, ttl_ms // 5)
        assert 0 < margin < ttl_ms, "the safety margin must be shorter than the lease"
        return SessionCore(engine_id, ttl_ms, margin, max(10, ttl_ms // keepalives_per_ttl),
                           campaign_retry_ms=max(20, ttl_ms // 4))

    # ------------------------------------------------------------------ decisions

    def next_action(self, now_ns: int) -> Action:
        if self.state is SessionState.ACTIVE:
            if isinstance(lease := self.lease_watch(now_ns), Demote):
                return lease
            if now_ns >= self.next_keepalive_ns:
                return KeepAlive(self.epoch, self.valid_until_ns)
            return Wait(min(self.next_keepalive_ns, self.valid_until_ns))
        if self.state is SessionState.STANDBY:
            if now_ns >= self.next_campaign_ns:
                return Campaign(now_ns)
            return Wait(self.next_campaign_ns)
        return Wait(now_ns + 1000 * MS)

    def lease_watch(self, now_ns: int) -> Demote | Wait:
        """For the lease watchdog, which runs beside the session loop so that a keep-alive
        stuck in the network cannot delay a demotion: Demote once the local lease has ended,
        otherwise when to look again."""
        if self.state is not SessionState.ACTIVE:
            return Wait(now_ns + 1000 * MS)
        if now_ns >= self.valid_until_ns:
            return Demote(LEASE_EXPIRED)
        return Wait(self.valid_until_ns)

    def lease_end_ns(self, sent_ns: int) -> int:
        """The local end of a lease acknowledged for a request sent at `sent_ns`."""
        return sent_ns + (self.ttl_ms - self.margin_ms) * MS

    def active_epoch(self, now_ns: int) -> int | None:
        """The epoch to stamp on a write now, or None if the session must not act."""
        if self.state is SessionState.ACTIVE and now_ns < self.valid_until_ns:
            return self.epoch
        return None

    # -------------------------------------------------------------------- reports

    def on_granted(self, epoch: int, ttl_ms: int, sent_ns: int, now_ns: int) -> bool:
        """A campaign sent at `sent_ns` was granted. Returns False if the grant arrived too late
        to act on (its local lease already ended), in which case the session stays standby and
        campaigns again only after a back-off (its link is slow; a standby may do better)."""
        self.ttl_ms = ttl_ms
        valid_until = self.lease_end_ns(sent_ns)
        if now_ns >= valid_until:  # the adapter resigns it; back off so a faster engine can win
            self.next_campaign_ns = now_ns + self.campaign_retry_ms * MS
            return False
        self.state, self.epoch, self.valid_until_ns = SessionState.ACTIVE, epoch, valid_until
        self.last_epoch_held = epoch
        self.next_keepalive_ns = sent_ns + self.keepalive_interval_ms * MS
        return True

    def on_denied(self, now_ns: int) -> None:
        self.next_campaign_ns = now_ns + self.campaign_retry_ms * MS

    def on_role_freed(self, now_ns: int) -> None:
        """Observe says nobody holds the role: campaign now."""
        if self.state is SessionState.STANDBY:
            self.next_campaign_ns = now_ns

    def on_keepalive_ok(self, epoch: int, sent_ns: int) -> None:
        if self.state is SessionState.ACTIVE and epoch == self.epoch:
            self.valid_until_ns = max(self.valid_until_ns, self.lease_end_ns(sent_ns))
            self.next_keepalive_ns = sent_ns + self.keepalive_interval_ms * MS

    def handoff_requested(self, epoch: int, handoff_to: str) -> bool:
        """A keep-alive reply named a successor: True the first time for this epoch and engine
        (the adapter then calls on_handoff once)."""
        request = (epoch, handoff_to)
        if not handoff_to or handoff_to == self.engine_id or self.handoff_seen == request:
            return False
        self.handoff_seen = request
        return True

    def on_keepalive_failed(self, now_ns: int) -> None:
        """Transient failure: try again soon (the lease deadline still rules)."""
        self.next_keepalive_ns = now_ns + min(self.keepalive_interval_ms, 50) * MS

    def demote(self, reason: str, now_ns: int, *, rejoin: bool = True, epoch: int | None = None) -> bool:
        """Leaves ACTIVE. Returns True if the session was active (fire on_demoted once). With
        `epoch`, only if that is still the epoch held: a refusal of a call made under an earlier
        epoch must not demote a newer grant."""
        if epoch is not None and epoch != self.epoch:
            return False
        was_active = self.state is SessionState.ACTIVE
        self.state = SessionState.STANDBY if rejoin else SessionState.PASSIVE
        self.valid_until_ns = 0
        self.next_campaign_ns = now_ns + (self.campaign_retry_ms * MS if was_active else 0)
        if was_active:
            self.demotions.append(reason)
        return was_active

    def resume_standby(self, now_ns: int) -> None:
        if self.state is SessionState.PASSIVE:
            self.state = SessionState.STANDBY
            self.next_campaign_ns = now_ns


class Attempts:
    """The retry loop's bookkeeping for one call, shared by the blocking and asyncio clients:

        attempts = Attempts(policy, started_ns, give_up_ns, rng)
        while (timeout := attempts.timeout_s(now())) is not None:
            try: return send(timeout)
            except RpcError as e: sleep(attempts.failed(code, reason, field, details, address, now()))
        raise attempts.exhausted(name)

    `failed` raises the typed refusal for a refusal, and otherwise returns the backoff delay
    (seconds), or None when no retry fits in the budget (the loop then ends).
    """

    def __init__(self, retry: RetryPolicy, started_ns: int, give_up_ns: int | None, jitter: Callable[[], float]):
        self.retry = retry
        self.started_ns = started_ns
        self.give_up_ns = give_up_ns
        self.jitter = jitter
        self.count = 0
        self.maybe_applied = False
        self.last_error = ""
        self._done = False

    def timeout_s(self, now_ns: int) -> float | None:
        """The deadline for the next attempt, or None when there is no time left for one."""
        if self._done:
            return None
        timeout_ns = self.retry.call_timeout_ms * MS
        if self.give_up_ns is not None:
            timeout_ns = min(timeout_ns, self.give_up_ns - now_ns)
        return timeout_ns / 1e9 if timeout_ns > 0 else None

    def failed(self, code: str, reason: str, field: str, details: str, where: str, now_ns: int) -> float | None:
        verdict = classify(code, reason)
        if verdict is Verdict.REFUSED:
            raise refusal(reason or code, details, field)
        self.count += 1
        self.maybe_applied = self.maybe_applied or verdict is Verdict.RETRY_MAYBE_APPLIED
        self.last_error = f"{where}: {code} {reason} {details}".strip()
        delay = self.retry.next_delay_ns(self.count, self.started_ns, now_ns, self.give_up_ns, self.jitter())
        if delay is None:
            self._done = True
            return None
        return delay / 1e9

    def exhausted(self, what: str) -> Unavailable:
        return Unavailable(f"{what} got no confirmed answer (last: {self.last_error or 'no attempt'})",
                           self.maybe_applied)

"""The client's decisions, without I/O: which failures to retry, how long to back off, the
engine session's lease arithmetic and state, what each answer means, and the requests to send.
Times are monotonic nanoseconds passed in, so the blocking and asyncio twins (sync.py, aio.py)
share every decision and only do I/O; tests drive this module with a fake clock.

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
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Generic, TypeVar

import grpc

from coordinator.client.errors import (
    FENCED,
    CoordinatorError,
    NotActive,
    Unavailable,
    refusal,
    unavailable,
)
from coordinator.client.values import LeadershipEvent
from coordinator.core.model import OrderStatus, Side
from coordinator.core.refusals import Operating, Reason
from coordinator.core.results import FillResult, OrderResult
from coordinator.v1 import admin_pb2, engine_pb2, types_pb2
from coordinator.wire.channel import is_host_port
from coordinator.wire.commands import ORDER_STREAM_FIELD
from coordinator.wire.records import order_from_wire, position_from_wire
from coordinator.wire.status import CODE_NAME, reason_in, reason_of

MS = 1_000_000
# Codes that refuse whatever the reason (reasons a newer server may add, auth, unknown methods).
REFUSAL_CODES = frozenset(
    {
        "FAILED_PRECONDITION",
        "NOT_FOUND",
        "INVALID_ARGUMENT",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "UNIMPLEMENTED",
        "OUT_OF_RANGE",
    }
)
_REFUSALS = frozenset(Reason)
_OPERATING = {o.value: o for o in Operating}
LEASE_EXPIRED = "lease expired: no keep-alive was acknowledged in time"
LEASE_RAN_OUT_IN_CALL = "lease expired during a call"


def elected_callback_failed(error: Exception) -> str:
    """The demotion reason when on_elected raised: the engine could not take over (reconcile
    its book, reach its venue), so it must not trade; the session gives the role back."""
    return f"on_elected raised {type(error).__name__}: {error}"


class Verdict(enum.Enum):
    REFUSED = "refused"  # raise the typed refusal; never retry
    RETRY_NOT_APPLIED = "retry"  # definitely not applied; retry after backoff
    RETRY_MAYBE_APPLIED = "maybe"  # may have been applied; retry with the same key


def classify(code: str, reason: str) -> Verdict:
    """What a failed call means. `code` is the gRPC status name, `reason` the ErrorInfo reason:
    the reason decides when it is one of ours, the code otherwise (a connection failure)."""
    if reason in _REFUSALS:
        return Verdict.REFUSED
    operating = _OPERATING.get(reason)
    if operating is not None:
        if not operating.retryable:
            return Verdict.REFUSED
        return Verdict.RETRY_MAYBE_APPLIED if operating.maybe_applied else Verdict.RETRY_NOT_APPLIED
    if code in REFUSAL_CODES:
        return Verdict.REFUSED
    if code == "RESOURCE_EXHAUSTED":
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

    def next_delay_ns(
        self, attempt: int, started_ns: int, now_ns: int, give_up_ns: int | None, jitter: float
    ) -> int | None:
        """How long to wait before retrying, or None when the budget (or `give_up_ns`) is spent."""
        if attempt >= self.max_attempts:
            return None
        delay = self.backoff_ns(attempt, jitter)
        limit = started_ns + self.budget_ms * MS
        if give_up_ns is not None:
            limit = min(limit, give_up_ns)
        return None if now_ns + delay >= limit else delay


class SessionState(enum.Enum):
    STANDBY = "standby"  # campaigning / waiting for the role to free
    ACTIVE = "active"  # holds the role at `epoch` until `valid_until_ns`
    PASSIVE = "passive"  # resigned or closed: does not campaign


# ------------------------------------------------- what the session loop must do next


@dataclass(frozen=True, slots=True)
class CampaignDue:
    at_ns: int


@dataclass(frozen=True, slots=True)
class KeepAliveDue:
    epoch: int
    deadline_ns: int  # give up on this keep-alive at this time (the lease's end)


@dataclass(frozen=True, slots=True)
class DemotionDue:
    reason: str


@dataclass(frozen=True, slots=True)
class Wait:
    until_ns: int


Action = CampaignDue | KeepAliveDue | DemotionDue | Wait

# ------------------------------------------------------- what a campaign answer means


@dataclass(frozen=True, slots=True)
class Elected:
    """Act from now at `epoch` (fire on_elected)."""

    epoch: int
    ttl_ms: int


@dataclass(frozen=True, slots=True)
class GiveBack:
    """Granted too late to act on (the local lease already ended): resign `epoch` at once so
    the next engine need not wait for it to expire."""

    epoch: int


@dataclass(frozen=True, slots=True)
class ResumeDue:
    """Our lease lapsed locally (say, during a Raft failover) but nobody else was granted:
    renew `epoch` with a keep-alive and read the book; report with `on_resumed`."""

    epoch: int


@dataclass(frozen=True, slots=True)
class Denied:
    """Someone else holds the role, or the campaign failed: campaign again after a back-off."""


CampaignOutcome = Elected | GiveBack | ResumeDue | Denied

# ---------------------------------------------------------- what a write may do


@dataclass(frozen=True, slots=True)
class WritePermit:
    epoch: int
    valid_until_ns: int  # give up on the call at the local lease end


@dataclass(frozen=True, slots=True)
class WriteDenied:
    """Raise `error` without sending; demote first with `demote_reason` when it is set."""

    error: NotActive
    demote_reason: str | None


@dataclass(frozen=True, slots=True)
class WriteFailed:
    """A write failed: raise `error`; demote first (for that epoch only) when `demote_reason`."""

    error: CoordinatorError
    demote_reason: str | None


@dataclass
class SessionCore:
    """Sans-I/O state of one engine's session. The adapter asks `next_action(now)`, performs
    it, and reports back through the `on_*` methods; `DemotionDue` must be acted on at once."""

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
    requested_ttl_ms: int = 0  # what each campaign asks for (ttl_ms is what was granted)
    rejoin_after_demotion: bool = True  # campaign again after losing the role

    @staticmethod
    def for_ttl(
        engine_id: str,
        ttl_ms: int,
        margin_ms: int | None = None,
        keepalives_per_ttl: int = 5,
        rejoin_after_demotion: bool = True,
    ) -> SessionCore:
        """Defaults: keep-alive 5 times per TTL; margin a fifth of the TTL (at least 20 ms)."""
        margin = margin_ms if margin_ms is not None else max(20, ttl_ms // 5)
        assert 0 < margin < ttl_ms, "the safety margin must be shorter than the lease"
        return SessionCore(
            engine_id,
            ttl_ms,
            margin,
            max(10, ttl_ms // keepalives_per_ttl),
            campaign_retry_ms=max(20, ttl_ms // 4),
            requested_ttl_ms=ttl_ms,
            rejoin_after_demotion=rejoin_after_demotion,
        )

    # ------------------------------------------------------------------ decisions

    def next_action(self, now_ns: int) -> Action:
        if self.state is SessionState.ACTIVE:
            if isinstance(lease := self.lease_watch(now_ns), DemotionDue):
                return lease
            if now_ns >= self.next_keepalive_ns:
                return KeepAliveDue(self.epoch, self.valid_until_ns)
            return Wait(min(self.next_keepalive_ns, self.valid_until_ns))
        if self.state is SessionState.STANDBY:
            if now_ns >= self.next_campaign_ns:
                return CampaignDue(now_ns)
            return Wait(self.next_campaign_ns)
        return Wait(now_ns + 1000 * MS)

    def lease_watch(self, now_ns: int) -> DemotionDue | Wait:
        """For the lease watchdog, which runs beside the session loop so that a keep-alive
        stuck in the network cannot delay a demotion: DemotionDue once the local lease has ended,
        otherwise when to look again."""
        if self.state is not SessionState.ACTIVE:
            return Wait(now_ns + 1000 * MS)
        if now_ns >= self.valid_until_ns:
            return DemotionDue(LEASE_EXPIRED)
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

    def on_campaign_answer(
        self, answer: engine_pb2.CampaignResponse, sent_ns: int, now_ns: int
    ) -> CampaignOutcome:
        """What a campaign answer (for a campaign sent at `sent_ns`) means for this session."""
        if answer.granted:
            return self._grant(answer.epoch, answer.ttl_ms, sent_ns, now_ns)
        if answer.holder_id == self.engine_id and answer.epoch == self.last_epoch_held:
            return ResumeDue(answer.epoch)
        self.on_denied(now_ns)
        return Denied()

    def on_resumed(self, epoch: int, ttl_ms: int, sent_ns: int, now_ns: int) -> Elected | GiveBack:
        """The keep-alive of a `ResumeDue` (sent at `sent_ns`) was acknowledged."""
        return self._grant(epoch, ttl_ms, sent_ns, now_ns)

    def _grant(self, epoch: int, ttl_ms: int, sent_ns: int, now_ns: int) -> Elected | GiveBack:
        if self.on_granted(epoch, ttl_ms, sent_ns, now_ns):
            return Elected(epoch, ttl_ms)
        return GiveBack(epoch)

    def permit_write(self, engine_id: str, method: str, now_ns: int) -> WritePermit | WriteDenied:
        """May a fenced write be sent now, and under which epoch? Never sends without the role."""
        epoch = self.active_epoch(now_ns)
        if epoch is not None:
            return WritePermit(epoch, self.valid_until_ns)
        lapsed = self.state is SessionState.ACTIVE  # the watchdog has not demoted yet
        error = NotActive(
            f"engine {engine_id} does not hold the execution role; {method} was not sent"
        )
        return WriteDenied(error, LEASE_EXPIRED if lapsed else None)

    def on_write_failed(
        self, method: str, permit: WritePermit, error: CoordinatorError, now_ns: int
    ) -> WriteFailed:
        """What a failed fenced write means: fenced off (demote), the lease ran out in the call
        (demote; NotActive), or a plain failure to pass on."""
        if isinstance(error, FENCED):
            return WriteFailed(error, f"{error.reason}: {error.message}")
        if isinstance(error, Unavailable) and now_ns >= permit.valid_until_ns:
            lapsed = NotActive(
                f"the lease of epoch {permit.epoch} ran out during {method}; it may have been "
                "recorded (the next engine sees it in its book)",
                maybe_applied=error.maybe_applied,
            )
            return WriteFailed(lapsed, LEASE_RAN_OUT_IN_CALL)
        return WriteFailed(error, None)

    def on_keepalive_error(self, error: CoordinatorError, now_ns: int) -> str | None:
        """A keep-alive failed: the reason to demote with when the coordinator fenced it off,
        otherwise None (and the next keep-alive is due soon; the lease deadline still rules)."""
        if isinstance(error, FENCED):
            return f"{error.reason}: {error.message}"
        self.on_keepalive_failed(now_ns)
        return None

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

    def demote(
        self, reason: str, now_ns: int, *, rejoin: bool | None = None, epoch: int | None = None
    ) -> bool:
        """Leaves ACTIVE. Returns True if the session was active (fire on_demoted once). With
        `epoch`, only if that is still the epoch held: a refusal of a call made under an earlier
        epoch must not demote a newer grant. `rejoin` defaults to `rejoin_after_demotion`."""
        if epoch is not None and epoch != self.epoch:
            return False
        was_active = self.state is SessionState.ACTIVE
        rejoin = self.rejoin_after_demotion if rejoin is None else rejoin
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


class Targets:
    """Which node the next attempt goes to: the leader when one is known, otherwise the nodes in
    turn. A failed attempt forgets the leader; a node's status may name it again."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self.addresses = list(addresses)
        self.leader: str | None = None
        self._rotation = itertools.cycle(self.addresses)

    def next(self) -> str:
        return self.leader or next(self._rotation)

    def lost(self, address: str) -> None:
        if self.leader == address:
            self.leader = None

    def learned(self, leader_grpc_address: str) -> str | None:
        """Remembers the leader a node named, if it is one of ours."""
        if leader_grpc_address in self.addresses:
            self.leader = leader_grpc_address
            return self.leader
        return None


def cause_of_failure(code: str, reason: str, details: str) -> str:
    """Why one attempt failed, in a few words: the refusal reason, or the last clause of
    gRPC's details ("connection refused", "Deadline Exceeded"), after its status code."""
    if reason:
        return reason
    clause = details.rsplit(": ", 1)[-1].strip(" ]")
    if clause.lower() == "connection refused":
        return "connection refused"
    return f"{code} {clause}".strip() if clause else code


def cause_of(error: grpc.RpcError) -> str:
    code, reason, _, details = what_failed(error)
    return cause_of_failure(code, reason, details)


def what_failed(error: grpc.RpcError) -> tuple[str, str, str, str]:
    """(status code name, ErrorInfo reason, field, details) of a failed call, for
    `Attempts.failed`."""
    reason, field = reason_of(error)
    return error.code().name, reason, field, error.details() or ""


# ------------------------------------------------------------- the order stream
# Both twins send their order calls on one OrderStream per node (client/order_stream.py); what
# a stream answer means, and what a broken or silent stream means, is decided here, once.


class AttemptFailed(Exception):
    """One attempt of a call got a refusal or no answer, unary or on a stream. `what` is
    (status code name, ErrorInfo reason, field, details), as `what_failed` gives it, so that
    `Attempts.failed` decides the same for both paths."""

    def __init__(self, what: tuple[str, str, str, str]) -> None:
        super().__init__(what[3])
        self.what = what


def stream_request(sequence: int, method: str, request: Any) -> engine_pb2.OrderStreamRequest:
    return engine_pb2.OrderStreamRequest(sequence=sequence, **{ORDER_STREAM_FIELD[method]: request})


def stream_answer(response: engine_pb2.OrderStreamResponse) -> Any:
    """The command's response message; raises AttemptFailed with the refusal it carries."""
    kind = response.WhichOneof("result")
    if kind == "error" or kind is None:
        reason, field = reason_in(response.error)
        code = CODE_NAME.get(response.error.code, "UNKNOWN")
        raise AttemptFailed((code, reason, field, response.error.message))
    return getattr(response, kind)


def stream_broken(error: grpc.RpcError | None) -> AttemptFailed:
    """What every call still waiting on a stream learns when it ends: maybe applied (the
    stream's UNAVAILABLE), unless the server said why it ended (e.g. NO_QUORUM: not proposed)."""
    if error is None:
        return AttemptFailed(("UNAVAILABLE", "", "", "the order stream ended"))
    return AttemptFailed(what_failed(error))


def stream_silent(timeout_s: float) -> AttemptFailed:
    return AttemptFailed(
        ("DEADLINE_EXCEEDED", "", "", f"no answer on the order stream within {timeout_s:.3f}s")
    )


class Attempts:
    """The retry loop's bookkeeping for one call, shared by the blocking and asyncio clients:

        attempts = Attempts(policy, started_ns, give_up_ns, rng)
        while (timeout := attempts.timeout_s(now())) is not None:
            try: return send(timeout)
            except RpcError as e:
                sleep(attempts.failed(*what_failed(e), address, now()))
        raise attempts.exhausted(name)

    `failed` raises the typed refusal for a refusal, and otherwise returns the backoff delay
    (seconds), or None when no retry fits in the budget (the loop then ends).
    """

    def __init__(
        self,
        retry: RetryPolicy,
        started_ns: int,
        give_up_ns: int | None,
        jitter: Callable[[], float],
    ):
        self.retry = retry
        self.started_ns = started_ns
        self.give_up_ns = give_up_ns
        self.jitter = jitter
        self.count = 0
        self.maybe_applied = False
        self.last_reason = ""
        self.causes: dict[str, str] = {}  # address -> why its last attempt failed
        self._done = False

    def timeout_s(self, now_ns: int) -> float | None:
        """The deadline for the next attempt, or None when there is no time left for one."""
        if self._done:
            return None
        timeout_ns = self.retry.call_timeout_ms * MS
        if self.give_up_ns is not None:
            timeout_ns = min(timeout_ns, self.give_up_ns - now_ns)
        return timeout_ns / 1e9 if timeout_ns > 0 else None

    def failed(
        self, code: str, reason: str, field: str, details: str, where: str, now_ns: int
    ) -> float | None:
        verdict = classify(code, reason)
        if verdict is Verdict.REFUSED:
            raise refusal(reason or code, details, field)
        self.count += 1
        self.maybe_applied = self.maybe_applied or verdict is Verdict.RETRY_MAYBE_APPLIED
        self.last_reason = reason
        self.causes[where] = cause_of_failure(code, reason, details)
        delay = self.retry.next_delay_ns(
            self.count, self.started_ns, now_ns, self.give_up_ns, self.jitter()
        )
        if delay is None:
            self._done = True
            return None
        return delay / 1e9

    def exhausted(self, what: str) -> Unavailable:
        """The error once no retry fits: its class names the last answer, its message each node
        tried and why, and `maybe_applied` covers every attempt."""
        return unavailable(
            self.last_reason,
            f"{what} got no confirmed answer: {causes_text(self.causes)}",
            self.maybe_applied,
        )


def causes_text(causes: dict[str, str]) -> str:
    """ "host:port: why; host:port: why", or "no attempt"."""
    return "; ".join(f"{address}: {cause}" for address, cause in causes.items()) or "no attempt"


# ------------------------------------------------------------------ the requests
# One builder per request, shared by both twins; `stale` reads answer from one node's state.

T = TypeVar("T")


def parse_addresses(addresses: str | Sequence[str]) -> list[str]:
    """The nodes' gRPC addresses, from "host:port,host:port" or a sequence."""
    items = addresses.split(",") if isinstance(addresses, str) else list(addresses)
    cleaned = [a.strip() for a in items if a.strip()]
    if not cleaned:
        raise ValueError("at least one coordinator gRPC address is required (host:port)")
    for address in cleaned:
        if not is_host_port(address):
            raise ValueError(f"{address!r} is not a gRPC address: expected host:port, port 1-65535")
    return cleaned


def consistency(stale: bool) -> types_pb2.ReadConsistency.ValueType:
    return types_pb2.STALE if stale else types_pb2.LINEARIZABLE


def campaign_request(engine_id: str, ttl_ms: int, request_id: str) -> engine_pb2.CampaignRequest:
    return engine_pb2.CampaignRequest(engine_id=engine_id, ttl_ms=ttl_ms, request_id=request_id)


def keep_alive_request(engine_id: str, epoch: int) -> engine_pb2.KeepAliveRequest:
    return engine_pb2.KeepAliveRequest(engine_id=engine_id, epoch=epoch)


def resign_request(
    engine_id: str, epoch: int, successor_engine_id: str = ""
) -> engine_pb2.ResignRequest:
    return engine_pb2.ResignRequest(
        engine_id=engine_id, epoch=epoch, successor_engine_id=successor_engine_id
    )


def orders_request(
    open_only: bool, account: str, instrument: str, stale: bool
) -> admin_pb2.ListOrdersRequest:
    return admin_pb2.ListOrdersRequest(
        open_only=open_only, account=account, instrument=instrument, consistency=consistency(stale)
    )


def positions_request(account: str, instrument: str, stale: bool) -> admin_pb2.ListPositionsRequest:
    return admin_pb2.ListPositionsRequest(
        account=account, instrument=instrument, consistency=consistency(stale)
    )


def get_order_request(client_order_id: str, stale: bool) -> engine_pb2.GetOrderRequest:
    return engine_pb2.GetOrderRequest(
        client_order_id=client_order_id, consistency=consistency(stale)
    )


def leadership_event(m: engine_pb2.ObserveResponse) -> LeadershipEvent:
    return LeadershipEvent(
        m.epoch, m.holder_id, m.ttl_ms, m.node_id, m.applied_index, m.handoff_to, m.changed_at_ns
    )


@dataclass(frozen=True, slots=True)
class FencedWrite(Generic[T]):
    """One engine write: the RPC, its request for the epoch the session holds, and its result."""

    method: str
    request: Callable[[int], Any]
    result: Callable[[Any], T]


def _order_result(response: Any) -> OrderResult:
    return OrderResult(order_from_wire(response.order), response.duplicate)


def submit_order(
    engine_id: str,
    client_order_id: str,
    account: str,
    instrument: str,
    side: Side,
    quantity: Decimal | str,
    price: Decimal | str,
) -> FencedWrite[OrderResult]:
    return FencedWrite(
        "SubmitOrder",
        lambda epoch: engine_pb2.SubmitOrderRequest(
            engine_id=engine_id,
            epoch=epoch,
            client_order_id=client_order_id,
            account=account,
            instrument=instrument,
            side=types_pb2.Side.ValueType(side),
            quantity=str(quantity),
            price=str(price),
        ),
        _order_result,
    )


def update_order(
    engine_id: str, client_order_id: str, status: OrderStatus, venue_order_id: str, reason: str
) -> FencedWrite[OrderResult]:
    return FencedWrite(
        "UpdateOrder",
        lambda epoch: engine_pb2.UpdateOrderRequest(
            engine_id=engine_id,
            epoch=epoch,
            client_order_id=client_order_id,
            status=types_pb2.OrderStatus.ValueType(status),
            venue_order_id=venue_order_id,
            reason=reason,
        ),
        _order_result,
    )


def cancel_order(engine_id: str, client_order_id: str) -> FencedWrite[OrderResult]:
    return FencedWrite(
        "CancelOrder",
        lambda epoch: engine_pb2.CancelOrderRequest(
            engine_id=engine_id, epoch=epoch, client_order_id=client_order_id
        ),
        _order_result,
    )


def report_fill(
    engine_id: str,
    fill_id: str,
    client_order_id: str,
    quantity: Decimal | str,
    price: Decimal | str,
) -> FencedWrite[FillResult]:
    return FencedWrite(
        "ReportFill",
        lambda epoch: engine_pb2.ReportFillRequest(
            engine_id=engine_id,
            epoch=epoch,
            fill_id=fill_id,
            client_order_id=client_order_id,
            quantity=str(quantity),
            price=str(price),
        ),
        lambda r: FillResult(order_from_wire(r.order), position_from_wire(r.position), r.duplicate),
    )

"""The blocking client: `CoordinatorClient` (any call, leader discovery, safe retries) and
`EngineSession` (campaign, lease keep-alive, fenced order calls, on_elected / on_demoted).

    client = CoordinatorClient("10.0.1.5:7001,10.0.2.5:7001,10.0.3.5:7001")
    session = EngineSession(client, "engine-a", ttl_ms=500,
                            on_elected=start_trading, on_demoted=stop_trading)
    session.start()
    ...
    session.submit_order("ord-1", "ACC1", "BTC-PERP", Side.BUY, "0.5", "64000")

Every decision (what to retry, the lease arithmetic, what an answer means, the requests) lives
in policy.py, shared with the asyncio twin in aio.py; this module only does the I/O and the
threads. tests/unit/test_client_twins.py holds the two public APIs equal.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from decimal import Decimal
from typing import Any, TypeVar, Union

import grpc

from coordinator.client import policy
from coordinator.client.errors import CoordinatorError
from coordinator.client.order_stream import OrderStream
from coordinator.client.values import Grant, LeadershipEvent
from coordinator.core.model import Fill, Order, OrderStatus, Position, Side
from coordinator.core.results import FillResult, OrderResult
from coordinator.v1 import admin_pb2, admin_pb2_grpc, engine_pb2, engine_pb2_grpc
from coordinator.wire.channel import CHANNEL_OPTIONS
from coordinator.wire.records import fill_from_wire, order_from_wire, position_from_wire

log = logging.getLogger(__name__)
MS = policy.MS
T = TypeVar("T")
Interceptor = Union[  # grpc's classes are generic only to the type checker
    "grpc.UnaryUnaryClientInterceptor[Any, Any]", "grpc.StreamStreamClientInterceptor[Any, Any]"
]


class CoordinatorClient:
    """Calls any node of one coordinator group. Refusals raise typed exceptions; ambiguous
    failures are retried with the same request (so the same idempotency key) against whichever
    node answers, preferring the leader, within `policy.budget_ms`."""

    def __init__(
        self,
        addresses: str | Sequence[str],
        *,
        retry: policy.RetryPolicy | None = None,
        interceptors: Sequence[Interceptor] = (),
        order_stream: bool = True,
    ) -> None:
        """`order_stream`: send the order calls (submit, update, cancel, fill) on one
        Engine.OrderStream per node, many in flight; False sends each as a unary call."""
        self.addresses = policy.parse_addresses(addresses)
        self.policy = retry or policy.RetryPolicy()
        self.order_stream = order_stream
        self._streams: dict[str, OrderStream] = {}
        self._streams_lock = threading.Lock()
        self._raw_channels = {
            a: grpc.insecure_channel(a, options=CHANNEL_OPTIONS) for a in self.addresses
        }
        self._channels = {
            a: grpc.intercept_channel(c, *interceptors) if interceptors else c
            for a, c in self._raw_channels.items()
        }
        self._engine = {a: engine_pb2_grpc.EngineStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._admin = {a: admin_pb2_grpc.AdminStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._targets = policy.Targets(self.addresses)
        self._random = random.Random()

    def close(self) -> None:
        with self._streams_lock:
            streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            stream.close()
        for channel in self._raw_channels.values():
            channel.close()

    def __enter__(self) -> CoordinatorClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- the one call path

    def call(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return self.call_timed(service, method, request, give_up_ns=give_up_ns)[0]

    def call_timed(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> tuple[Any, int]:
        """Returns (response, when the first attempt was sent). Raises a `Refused` subclass,
        or `Unavailable` once the retry budget or `give_up_ns` (monotonic) is spent."""
        stubs = self._engine if service == "Engine" else self._admin

        def send(address: str, timeout_s: float) -> Any:
            try:
                return getattr(stubs[address], method)(request, timeout=timeout_s)
            except grpc.RpcError as exc:
                raise policy.AttemptFailed(policy.what_failed(exc)) from exc

        return self._with_retries(f"{service}.{method}", send, give_up_ns)

    def call_order(self, method: str, request: Any, *, give_up_ns: int | None = None) -> Any:
        """An order write (SubmitOrder, UpdateOrder, CancelOrder, ReportFill) on this client's
        order stream (or unary, see `order_stream`), with the same retries and errors as `call`."""
        if not self.order_stream:
            return self.call("Engine", method, request, give_up_ns=give_up_ns)

        def send(address: str, timeout_s: float) -> Any:
            return self._stream_to(address).send(method, request, timeout_s)

        return self._with_retries(f"Engine.{method}", send, give_up_ns)[0]

    def _with_retries(
        self, what: str, send: Callable[[str, float], Any], give_up_ns: int | None
    ) -> tuple[Any, int]:
        """The one retry loop: `send(address, timeout_s)` raises AttemptFailed when the attempt
        failed; Attempts decides whether to raise, retry, or give up."""
        attempts = policy.Attempts(
            self.policy, time.monotonic_ns(), give_up_ns, self._random.random
        )
        while (timeout := attempts.timeout_s(time.monotonic_ns())) is not None:
            address = self._targets.next()
            try:
                return send(address, timeout), attempts.started_ns
            except policy.AttemptFailed as exc:
                self._targets.lost(address)
                delay = attempts.failed(*exc.what, address, time.monotonic_ns())
            if delay is None:
                break
            time.sleep(delay)
            self.refresh_leader(timeout_s=0.2)
        raise attempts.exhausted(what)

    def _stream_to(self, address: str) -> OrderStream:
        with self._streams_lock:
            stream = self._streams.get(address)
            if stream is None or stream.broken is not None:
                stream = self._streams[address] = OrderStream(self._engine[address])
            return stream

    def refresh_leader(self, timeout_s: float = 0.5) -> str | None:
        """Asks the nodes who leads; remembers the leader's gRPC address if one is known."""
        for address in self.addresses:
            try:
                status = self._admin[address].Status(admin_pb2.StatusRequest(), timeout=timeout_s)
            except grpc.RpcError:
                continue
            if (leader := self._targets.learned(status.leader_grpc_address)) is not None:
                return leader
        return None

    # ------------------------------------------------------------- admin and reads

    def status(self, address: str, timeout_s: float = 2.0) -> admin_pb2.StatusResponse:
        """One node's own view (not forwarded, not retried)."""
        response: admin_pb2.StatusResponse = self._admin[address].Status(
            admin_pb2.StatusRequest(), timeout=timeout_s
        )
        return response

    def orders(
        self,
        *,
        open_only: bool = False,
        account: str = "",
        instrument: str = "",
        stale: bool = False,
    ) -> list[Order]:
        request = policy.orders_request(open_only, account, instrument, stale)
        return [order_from_wire(o) for o in self.call("Admin", "ListOrders", request).orders]

    def positions(
        self, *, account: str = "", instrument: str = "", stale: bool = False
    ) -> list[Position]:
        request = policy.positions_request(account, instrument, stale)
        return [
            position_from_wire(p) for p in self.call("Admin", "ListPositions", request).positions
        ]

    def get_order(self, client_order_id: str, *, stale: bool = False) -> Order:
        return self.order_and_fills(client_order_id, stale=stale)[0]

    def order_and_fills(
        self, client_order_id: str, *, stale: bool = False
    ) -> tuple[Order, list[Fill]]:
        """One order and its fills, in the order they were applied."""
        request = policy.get_order_request(client_order_id, stale)
        response = self.call("Engine", "GetOrder", request)
        return order_from_wire(response.order), [fill_from_wire(f) for f in response.fills]

    def observe(self, *, stop: threading.Event | None = None) -> Iterator[LeadershipEvent]:
        """Leadership changes until `stop` is set, starting with the current state; moves on to
        another node when the one it listens to fails."""
        stop = stop or threading.Event()
        current: list[Any] = []

        def cancel_on_stop() -> None:
            stop.wait()
            for stream in list(current):
                stream.cancel()

        threading.Thread(target=cancel_on_stop, name="observe-stop", daemon=True).start()
        for address in itertools.cycle(self.addresses):
            if stop.is_set():
                return
            stream = self._engine[address].Observe(engine_pb2.ObserveRequest())
            current[:] = [stream]
            if stop.is_set():
                stream.cancel()
            try:
                for event in stream:
                    yield policy.leadership_event(event)
            except grpc.RpcError:
                pass
            stop.wait(0.05)


class EngineSession:
    """One execution engine's membership in the election for the execution role.

    `on_elected(grant)` fires when this engine gets the role (with the open-order book and
    positions); `on_demoted(reason)` fires when it loses it: its local lease ran out, the
    coordinator refused a write as STALE_EPOCH or NOT_HOLDER, or it resigned. Both run on the
    session's callback thread, one at a time, in order. From the moment of demotion, every
    order call raises NotActive without touching the network. If `on_elected` raises, the
    engine could not take over (e.g. its reconciliation failed): the session is demoted
    ("on_elected raised ..."), gives the role back at once so a standby is granted, and
    campaigns again after its retry delay.
    """

    def __init__(
        self,
        client: CoordinatorClient,
        engine_id: str,
        ttl_ms: int = 500,
        *,
        on_elected: Callable[[Grant], None] | None = None,
        on_demoted: Callable[[str], None] | None = None,
        margin_ms: int | None = None,
        rejoin_after_demotion: bool = True,
        on_handoff: Callable[[str], None] | None = None,
    ) -> None:
        """`on_handoff(to_engine_id)`: an operator asked for a planned hand-off to that engine;
        drain, then call `resign(to_engine_id)`. Without it the session resigns at once."""
        self.client = client
        self.engine_id = engine_id
        self.core = policy.SessionCore.for_ttl(
            engine_id, ttl_ms, margin_ms, rejoin_after_demotion=rejoin_after_demotion
        )
        self._on_elected = on_elected
        self._on_demoted = on_demoted
        self._on_handoff = on_handoff or (lambda to: self.resign(successor_engine_id=to))
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._lease_granted = threading.Event()
        self._closed = threading.Event()
        self._callbacks: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._run, name=f"session-{engine_id}", daemon=True),
            threading.Thread(target=self._watch_lease, name=f"lease-{engine_id}", daemon=True),
            threading.Thread(target=self._observe, name=f"observe-{engine_id}", daemon=True),
            threading.Thread(target=self._deliver, name=f"callbacks-{engine_id}", daemon=True),
        ]
        self.handoff_to = ""

    # ------------------------------------------------------------------- lifecycle

    def start(self) -> EngineSession:
        for thread in self._threads:
            thread.start()
        return self

    def close(self, *, resign: bool = True) -> None:
        """Stops campaigning; resigns first if active and `resign`."""
        if resign and self.epoch is not None:
            with contextlib.suppress(Exception):
                self.resign()
        self._closed.set()
        self._wake.set()
        self._lease_granted.set()
        self._callbacks.put(None)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> EngineSession:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def epoch(self) -> int | None:
        """The epoch this engine may act under right now, or None."""
        with self._lock:
            return self.core.active_epoch(time.monotonic_ns())

    @property
    def active(self) -> bool:
        return self.epoch is not None

    def wait_active(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.active:
                return True
            time.sleep(0.005)
        return self.active

    def resign(self, successor_engine_id: str = "") -> None:
        """Gives the role up now: stop acting first, then tell the coordinator, so the next
        engine is granted at once. Does not campaign again until `campaign_again()`."""
        with self._lock:
            epoch = self.core.epoch if self.core.state is policy.SessionState.ACTIVE else None
            self._demote("resigned", rejoin=False)
        if epoch is not None:
            self.client.call(
                "Engine",
                "Resign",
                policy.resign_request(self.engine_id, epoch, successor_engine_id),
            )

    def campaign_again(self) -> None:
        with self._lock:
            self.core.resume_standby(time.monotonic_ns())
        self._wake.set()

    # ----------------------------------------------------------------- fenced writes

    def submit_order(
        self,
        client_order_id: str,
        account: str,
        instrument: str,
        side: Side,
        quantity: Decimal | str,
        price: Decimal | str,
    ) -> OrderResult:
        return self._fenced(
            policy.submit_order(
                self.engine_id, client_order_id, account, instrument, side, quantity, price
            )
        )

    def update_order(
        self, client_order_id: str, status: OrderStatus, venue_order_id: str = "", reason: str = ""
    ) -> OrderResult:
        return self._fenced(
            policy.update_order(self.engine_id, client_order_id, status, venue_order_id, reason)
        )

    def cancel_order(self, client_order_id: str) -> OrderResult:
        return self._fenced(policy.cancel_order(self.engine_id, client_order_id))

    def report_fill(
        self, fill_id: str, client_order_id: str, quantity: Decimal | str, price: Decimal | str
    ) -> FillResult:
        return self._fenced(
            policy.report_fill(self.engine_id, fill_id, client_order_id, quantity, price)
        )

    def _fenced(self, write: policy.FencedWrite[T]) -> T:
        with self._lock:
            permit = self.core.permit_write(self.engine_id, write.method, time.monotonic_ns())
        if isinstance(permit, policy.WriteDenied):
            if permit.demote_reason is not None:
                self._demote(permit.demote_reason)
            raise permit.error
        try:
            response = self.client.call_order(
                write.method, write.request(permit.epoch), give_up_ns=permit.valid_until_ns
            )
        except CoordinatorError as exc:
            with self._lock:
                failed = self.core.on_write_failed(write.method, permit, exc, time.monotonic_ns())
            if failed.demote_reason is not None:
                self._demote(failed.demote_reason, epoch=permit.epoch)
            if failed.error is exc:
                raise
            raise failed.error from exc
        return write.result(response)

    # ------------------------------------------------------------------- the loop

    def _run(self) -> None:
        while not self._closed.is_set():
            now = time.monotonic_ns()
            with self._lock:
                action = self.core.next_action(now)
            try:
                if isinstance(action, policy.CampaignDue):
                    self._campaign()
                elif isinstance(action, policy.KeepAliveDue):
                    self._keep_alive(action)
                elif isinstance(action, policy.DemotionDue):
                    self._demote(action.reason)
                else:
                    self._wake.wait(max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9))
                    self._wake.clear()
            except Exception:  # keep the session alive; the lease deadline still protects us
                log.exception("engine session %s step failed", self.engine_id)
                self._closed.wait(0.05)

    def _campaign(self) -> None:
        request = policy.campaign_request(
            self.engine_id, self.core.requested_ttl_ms, uuid.uuid4().hex
        )
        sent = time.monotonic_ns()
        try:
            response, sent = self.client.call_timed(
                "Engine", "Campaign", request, give_up_ns=sent + self.core.ttl_ms * MS
            )
        except CoordinatorError as exc:
            log.info("campaign of %s failed: %s", self.engine_id, exc)
            with self._lock:
                self.core.on_denied(time.monotonic_ns())
            return
        with self._lock:
            outcome = self.core.on_campaign_answer(response, sent, time.monotonic_ns())
        if isinstance(outcome, policy.ResumeDue):
            self._resume(outcome.epoch)
        else:
            self._act_on(
                outcome,
                tuple(map(order_from_wire, response.open_orders)),
                tuple(map(position_from_wire, response.positions)),
                resumed=False,
            )

    def _resume(self, epoch: int) -> None:
        sent = time.monotonic_ns()
        try:
            response, sent = self.client.call_timed(
                "Engine",
                "KeepAlive",
                policy.keep_alive_request(self.engine_id, epoch),
                give_up_ns=sent + self.core.ttl_ms * MS,
            )
            orders, positions = self.client.orders(open_only=True), self.client.positions()
        except CoordinatorError:
            with self._lock:
                self.core.on_denied(time.monotonic_ns())
            return
        with self._lock:
            outcome = self.core.on_resumed(epoch, response.ttl_ms, sent, time.monotonic_ns())
        self._act_on(outcome, tuple(orders), tuple(positions), resumed=True)

    def _act_on(
        self,
        outcome: policy.CampaignOutcome,
        orders: tuple[Order, ...],
        positions: tuple[Position, ...],
        *,
        resumed: bool,
    ) -> None:
        if isinstance(outcome, policy.GiveBack):
            log.warning(
                "grant of epoch %d arrived after its local lease; resigning it", outcome.epoch
            )
            with contextlib.suppress(Exception):
                self.client.call(
                    "Engine", "Resign", policy.resign_request(self.engine_id, outcome.epoch)
                )
        if not isinstance(outcome, policy.Elected):
            return
        self._lease_granted.set()
        grant = Grant(self.engine_id, outcome.epoch, outcome.ttl_ms, orders, positions, resumed)
        log.info(
            "engine %s elected with epoch %d (%d open orders)",
            self.engine_id,
            outcome.epoch,
            len(orders),
        )
        if self._on_elected is not None:
            callback = self._on_elected
            self._callbacks.put(lambda: self._take_over(callback, grant))

    def _take_over(self, on_elected: Callable[[Grant], None], grant: Grant) -> None:
        """Runs on_elected; if it raises, the engine cannot act on the grant: it is demoted and
        the role given back at once (a standby takes over), then it campaigns again."""
        try:
            on_elected(grant)
        except Exception as exc:
            log.exception("on_elected of %s failed at epoch %d", self.engine_id, grant.epoch)
            self._give_back(grant.epoch, policy.elected_callback_failed(exc))

    def _give_back(self, epoch: int, reason: str) -> None:
        self._demote(reason, epoch=epoch)
        try:
            self.client.call("Engine", "Resign", policy.resign_request(self.engine_id, epoch))
        except CoordinatorError as exc:  # the lease then simply runs out
            log.warning("resigning epoch %d after %s failed: %s", epoch, reason, exc)

    def _keep_alive(self, action: policy.KeepAliveDue) -> None:
        request = policy.keep_alive_request(self.engine_id, action.epoch)
        try:
            response, sent = self.client.call_timed(
                "Engine", "KeepAlive", request, give_up_ns=action.deadline_ns
            )
        except CoordinatorError as exc:
            log.debug("keep-alive of epoch %d failed: %s", action.epoch, exc)
            with self._lock:
                fenced = self.core.on_keepalive_error(exc, time.monotonic_ns())
            if fenced is not None:
                self._demote(fenced, epoch=action.epoch)
            return
        with self._lock:
            self.core.on_keepalive_ok(action.epoch, sent)
            handoff = self.core.handoff_requested(action.epoch, response.handoff_to)
        self.handoff_to = response.handoff_to
        if handoff:
            log.info("engine %s asked to hand off to %s", self.engine_id, response.handoff_to)
            on_handoff = self._on_handoff
            self._callbacks.put(lambda: on_handoff(response.handoff_to))

    def _demote(self, reason: str, *, rejoin: bool | None = None, epoch: int | None = None) -> None:
        with self._lock:
            was_active = self.core.demote(reason, time.monotonic_ns(), rejoin=rejoin, epoch=epoch)
        self._wake.set()
        if was_active:
            log.warning("engine %s demoted: %s", self.engine_id, reason)
            if self._on_demoted is not None:
                callback = self._on_demoted
                self._callbacks.put(lambda: callback(reason))

    def _watch_lease(self) -> None:
        """Demotes at the local lease end even while the session thread is blocked in a call
        (a keep-alive held up by the network or an interceptor). on_demoted is then queued at
        once; it runs as soon as any callback still running returns (keep callbacks short)."""
        while not self._closed.is_set():
            self._lease_granted.clear()
            with self._lock:
                action = self.core.lease_watch(time.monotonic_ns())
                if isinstance(action, policy.DemotionDue):
                    self._demote(action.reason)
                    continue
            self._lease_granted.wait(max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9))

    def _observe(self) -> None:
        for event in self.client.observe(stop=self._closed):
            if not event.holder_id:
                with self._lock:
                    self.core.on_role_freed(time.monotonic_ns())
                self._wake.set()

    def _deliver(self) -> None:
        while True:
            callback = self._callbacks.get()
            if callback is None:
                return
            try:
                callback()
            except Exception:
                log.exception("engine session callback failed")

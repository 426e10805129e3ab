"""The asyncio client: same behaviour as coordinator.client.sync, on grpc.aio.

    client = AsyncCoordinatorClient("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
    session = AsyncEngineSession(client, "engine-a", ttl_ms=500, on_elected=..., on_demoted=...)
    await session.start()
    await session.wait_active(5)
    await session.submit_order("ord-1", "ACC1", "BTC-PERP", Side.BUY, "0.5", "64000")
    await session.close()

Every decision comes from policy.py, shared with the blocking twin in sync.py; this module only
awaits. Callbacks may be plain functions or coroutines. tests/unit/test_client_twins.py holds the
two public APIs equal.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import grpc

from coordinator.client import policy
from coordinator.client.errors import CoordinatorError
from coordinator.client.order_stream import AsyncOrderStream
from coordinator.client.values import Grant, LeadershipEvent
from coordinator.core.model import Fill, Order, OrderStatus, Position, Side
from coordinator.core.results import FillResult, OrderResult
from coordinator.v1 import admin_pb2, admin_pb2_grpc, engine_pb2, engine_pb2_grpc
from coordinator.wire.channel import CHANNEL_OPTIONS
from coordinator.wire.records import fill_from_wire, order_from_wire, position_from_wire

log = logging.getLogger(__name__)
MS = policy.MS
T = TypeVar("T")
Callback = Callable[[Any], None] | Callable[[Any], Awaitable[None]]


class AsyncCoordinatorClient:
    """The asyncio twin of CoordinatorClient."""

    def __init__(
        self,
        addresses: str | Sequence[str],
        *,
        retry: policy.RetryPolicy | None = None,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
        order_stream: bool = True,
    ) -> None:
        """`order_stream`: send the order calls (submit, update, cancel, fill) on one
        Engine.OrderStream per node, many in flight; False sends each as a unary call."""
        self.addresses = policy.parse_addresses(addresses)
        self.policy = retry or policy.RetryPolicy()
        self.order_stream = order_stream
        self._streams: dict[str, AsyncOrderStream] = {}
        self._channels = {
            a: grpc.aio.insecure_channel(
                a, options=CHANNEL_OPTIONS, interceptors=list(interceptors)
            )
            for a in self.addresses
        }
        self._engine = {a: engine_pb2_grpc.EngineStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._admin = {a: admin_pb2_grpc.AdminStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._targets = policy.Targets(self.addresses)
        self._random = random.Random()

    async def close(self) -> None:
        streams, self._streams = list(self._streams.values()), {}
        for stream in streams:
            await stream.close()
        for channel in self._channels.values():
            await channel.close(None)

    async def __aenter__(self) -> AsyncCoordinatorClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def call(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> Any:
        return (await self.call_timed(service, method, request, give_up_ns=give_up_ns))[0]

    async def call_timed(
        self, service: str, method: str, request: Any, *, give_up_ns: int | None = None
    ) -> tuple[Any, int]:
        stubs = self._engine if service == "Engine" else self._admin

        async def send(address: str, timeout_s: float) -> Any:
            try:
                return await getattr(stubs[address], method)(request, timeout=timeout_s)
            except grpc.aio.AioRpcError as exc:
                raise policy.AttemptFailed(policy.what_failed(exc)) from exc

        return await self._with_retries(f"{service}.{method}", send, give_up_ns)

    async def call_order(self, method: str, request: Any, *, give_up_ns: int | None = None) -> Any:
        """An order write (SubmitOrder, UpdateOrder, CancelOrder, ReportFill) on this client's
        order stream (or unary, see `order_stream`), with the same retries and errors as `call`."""
        if not self.order_stream:
            return await self.call("Engine", method, request, give_up_ns=give_up_ns)

        async def send(address: str, timeout_s: float) -> Any:
            return await self._stream_to(address).send(method, request, timeout_s)

        return (await self._with_retries(f"Engine.{method}", send, give_up_ns))[0]

    async def _with_retries(
        self,
        what: str,
        send: Callable[[str, float], Awaitable[Any]],
        give_up_ns: int | None,
    ) -> tuple[Any, int]:
        """The one retry loop: `send(address, timeout_s)` raises AttemptFailed when the attempt
        failed; Attempts decides whether to raise, retry, or give up."""
        attempts = policy.Attempts(
            self.policy, time.monotonic_ns(), give_up_ns, self._random.random
        )
        while (timeout := attempts.timeout_s(time.monotonic_ns())) is not None:
            address = self._targets.next()
            try:
                return await send(address, timeout), attempts.started_ns
            except policy.AttemptFailed as exc:
                self._targets.lost(address)
                delay = attempts.failed(*exc.what, address, time.monotonic_ns())
            if delay is None:
                break
            await asyncio.sleep(delay)
            await self.refresh_leader(timeout_s=0.2)
        raise attempts.exhausted(what)

    def _stream_to(self, address: str) -> AsyncOrderStream:
        stream = self._streams.get(address)
        if stream is None or stream.broken is not None:
            stream = self._streams[address] = AsyncOrderStream(self._engine[address])
        return stream

    async def refresh_leader(self, timeout_s: float = 0.5) -> str | None:
        """Asks the nodes who leads; remembers the leader's gRPC address if one is known."""
        for address in self.addresses:
            try:
                status = await self._admin[address].Status(
                    admin_pb2.StatusRequest(), timeout=timeout_s
                )
            except grpc.aio.AioRpcError:
                continue
            if (leader := self._targets.learned(status.leader_grpc_address)) is not None:
                return leader
        return None

    async def orders(
        self,
        *,
        open_only: bool = False,
        account: str = "",
        instrument: str = "",
        stale: bool = False,
    ) -> list[Order]:
        request = policy.orders_request(open_only, account, instrument, stale)
        return [
            order_from_wire(o) for o in (await self.call("Admin", "ListOrders", request)).orders
        ]

    async def positions(
        self, *, account: str = "", instrument: str = "", stale: bool = False
    ) -> list[Position]:
        request = policy.positions_request(account, instrument, stale)
        return [
            position_from_wire(p)
            for p in (await self.call("Admin", "ListPositions", request)).positions
        ]

    async def get_order(self, client_order_id: str, *, stale: bool = False) -> Order:
        return (await self.order_and_fills(client_order_id, stale=stale))[0]

    async def order_and_fills(
        self, client_order_id: str, *, stale: bool = False
    ) -> tuple[Order, list[Fill]]:
        """One order and its fills, in the order they were applied."""
        request = policy.get_order_request(client_order_id, stale)
        response = await self.call("Engine", "GetOrder", request)
        return order_from_wire(response.order), [fill_from_wire(f) for f in response.fills]

    async def status(self, address: str, timeout_s: float = 2.0) -> admin_pb2.StatusResponse:
        """One node's own view (not forwarded, not retried)."""
        response: admin_pb2.StatusResponse = await self._admin[address].Status(
            admin_pb2.StatusRequest(), timeout=timeout_s
        )
        return response

    async def observe(self, *, stop: asyncio.Event | None = None) -> AsyncIterator[LeadershipEvent]:
        """Leadership changes until `stop` is set, starting with the current state; moves on to
        another node when the one it listens to fails."""
        stop = stop or asyncio.Event()
        for address in itertools.cycle(self.addresses):
            if stop.is_set():
                return
            stream = self._engine[address].Observe(engine_pb2.ObserveRequest())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    read = asyncio.ensure_future(stream.read())
                    done, _ = await asyncio.wait(
                        {read, stopper}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if stopper in done:
                        read.cancel()
                        stream.cancel()
                        return
                    event = read.result()
                    if event is grpc.aio.EOF:  # type: ignore[attr-defined]
                        break
                    yield policy.leadership_event(event)
            except grpc.aio.AioRpcError:
                pass
            finally:
                stopper.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)


class AsyncEngineSession:
    """The asyncio twin of EngineSession: same states, same lease rule, same callbacks."""

    def __init__(
        self,
        client: AsyncCoordinatorClient,
        engine_id: str,
        ttl_ms: int = 500,
        *,
        on_elected: Callback | None = None,
        on_demoted: Callback | None = None,
        margin_ms: int | None = None,
        rejoin_after_demotion: bool = True,
        on_handoff: Callback | None = None,
    ) -> None:
        self.client = client
        self.engine_id = engine_id
        self.core = policy.SessionCore.for_ttl(
            engine_id, ttl_ms, margin_ms, rejoin_after_demotion=rejoin_after_demotion
        )
        self._on_elected = on_elected
        self._on_demoted = on_demoted
        self._on_handoff: Callback = on_handoff or (lambda to: self.resign(successor_engine_id=to))
        self._wake = asyncio.Event()
        self._lease_granted = asyncio.Event()
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._callbacks: asyncio.Queue[tuple[Callback, Any]] = asyncio.Queue()
        self.handoff_to = ""

    async def start(self) -> AsyncEngineSession:
        """Starts campaigning. Callbacks run on their own task, one at a time, in order, so a
        slow on_elected never delays a keep-alive."""
        self._tasks = [
            asyncio.create_task(self._run()),
            asyncio.create_task(self._watch_lease()),
            asyncio.create_task(self._observe()),
            asyncio.create_task(self._deliver()),
        ]
        return self

    async def close(self, *, resign: bool = True) -> None:
        if resign and self.epoch is not None:
            with contextlib.suppress(Exception):
                await self.resign()
        self._closed.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def __aenter__(self) -> AsyncEngineSession:
        return await self.start()

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def epoch(self) -> int | None:
        """The epoch this engine may act under right now, or None."""
        return self.core.active_epoch(time.monotonic_ns())

    @property
    def active(self) -> bool:
        return self.epoch is not None

    async def wait_active(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.epoch is None:
            await asyncio.sleep(0.005)
        return self.epoch is not None

    async def resign(self, successor_engine_id: str = "") -> None:
        epoch = self.core.epoch if self.core.state is policy.SessionState.ACTIVE else None
        await self._demote("resigned", rejoin=False)
        if epoch is not None:
            await self.client.call(
                "Engine",
                "Resign",
                policy.resign_request(self.engine_id, epoch, successor_engine_id),
            )

    def campaign_again(self) -> None:
        self.core.resume_standby(time.monotonic_ns())
        self._wake.set()

    # ------------------------------------------------------------------ fenced writes

    async def submit_order(
        self,
        client_order_id: str,
        account: str,
        instrument: str,
        side: Side,
        quantity: Decimal | str,
        price: Decimal | str,
    ) -> OrderResult:
        return await self._fenced(
            policy.submit_order(
                self.engine_id, client_order_id, account, instrument, side, quantity, price
            )
        )

    async def update_order(
        self, client_order_id: str, status: OrderStatus, venue_order_id: str = "", reason: str = ""
    ) -> OrderResult:
        return await self._fenced(
            policy.update_order(self.engine_id, client_order_id, status, venue_order_id, reason)
        )

    async def cancel_order(self, client_order_id: str) -> OrderResult:
        return await self._fenced(policy.cancel_order(self.engine_id, client_order_id))

    async def report_fill(
        self, fill_id: str, client_order_id: str, quantity: Decimal | str, price: Decimal | str
    ) -> FillResult:
        return await self._fenced(
            policy.report_fill(self.engine_id, fill_id, client_order_id, quantity, price)
        )

    async def _fenced(self, write: policy.FencedWrite[T]) -> T:
        permit = self.core.permit_write(self.engine_id, write.method, time.monotonic_ns())
        if isinstance(permit, policy.WriteDenied):
            if permit.demote_reason is not None:
                await self._demote(permit.demote_reason)
            raise permit.error
        try:
            response = await self.client.call_order(
                write.method, write.request(permit.epoch), give_up_ns=permit.valid_until_ns
            )
        except CoordinatorError as exc:
            failed = self.core.on_write_failed(write.method, permit, exc, time.monotonic_ns())
            if failed.demote_reason is not None:
                await self._demote(failed.demote_reason, epoch=permit.epoch)
            if failed.error is exc:
                raise
            raise failed.error from exc
        return write.result(response)

    # ----------------------------------------------------------------------- the loop

    async def _run(self) -> None:
        while not self._closed.is_set():
            action = self.core.next_action(time.monotonic_ns())
            try:
                if isinstance(action, policy.CampaignDue):
                    await self._campaign()
                elif isinstance(action, policy.KeepAliveDue):
                    await self._keep_alive(action)
                elif isinstance(action, policy.DemotionDue):
                    await self._demote(action.reason)
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(
                            self._wake.wait(),
                            max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9),
                        )
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engine session %s step failed", self.engine_id)
                await asyncio.sleep(0.05)

    async def _campaign(self) -> None:
        request = policy.campaign_request(
            self.engine_id, self.core.requested_ttl_ms, uuid.uuid4().hex
        )
        sent = time.monotonic_ns()
        try:
            response, sent = await self.client.call_timed(
                "Engine", "Campaign", request, give_up_ns=sent + self.core.ttl_ms * MS
            )
        except CoordinatorError as exc:
            log.info("campaign of %s failed: %s", self.engine_id, exc)
            self.core.on_denied(time.monotonic_ns())
            return
        outcome = self.core.on_campaign_answer(response, sent, time.monotonic_ns())
        if isinstance(outcome, policy.ResumeDue):
            await self._resume(outcome.epoch)
        else:
            await self._act_on(
                outcome,
                tuple(map(order_from_wire, response.open_orders)),
                tuple(map(position_from_wire, response.positions)),
                resumed=False,
            )

    async def _resume(self, epoch: int) -> None:
        sent = time.monotonic_ns()
        try:
            response, sent = await self.client.call_timed(
                "Engine",
                "KeepAlive",
                policy.keep_alive_request(self.engine_id, epoch),
                give_up_ns=sent + self.core.ttl_ms * MS,
            )
            orders = await self.client.orders(open_only=True)
            positions = await self.client.positions()
        except CoordinatorError:
            self.core.on_denied(time.monotonic_ns())
            return
        outcome = self.core.on_resumed(epoch, response.ttl_ms, sent, time.monotonic_ns())
        await self._act_on(outcome, tuple(orders), tuple(positions), resumed=True)

    async def _act_on(
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
                await self.client.call(
                    "Engine", "Resign", policy.resign_request(self.engine_id, outcome.epoch)
                )
        if not isinstance(outcome, policy.Elected):
            return
        self._lease_granted.set()
        log.info(
            "engine %s elected with epoch %d (%d open orders)",
            self.engine_id,
            outcome.epoch,
            len(orders),
        )
        if self._on_elected is not None:
            grant = Grant(self.engine_id, outcome.epoch, outcome.ttl_ms, orders, positions, resumed)
            self._callbacks.put_nowait((self._take_over, grant))

    async def _take_over(self, grant: Grant) -> None:
        """Runs on_elected; if it raises, the engine cannot act on the grant: it is demoted and
        the role given back at once (a standby takes over), then it campaigns again."""
        assert self._on_elected is not None
        try:
            outcome = self._on_elected(grant)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception as exc:
            log.exception("on_elected of %s failed at epoch %d", self.engine_id, grant.epoch)
            await self._give_back(grant.epoch, policy.elected_callback_failed(exc))

    async def _give_back(self, epoch: int, reason: str) -> None:
        await self._demote(reason, epoch=epoch)
        try:
            await self.client.call("Engine", "Resign", policy.resign_request(self.engine_id, epoch))
        except CoordinatorError as exc:  # the lease then simply runs out
            log.warning("resigning epoch %d after %s failed: %s", epoch, reason, exc)

    async def _keep_alive(self, action: policy.KeepAliveDue) -> None:
        request = policy.keep_alive_request(self.engine_id, action.epoch)
        try:
            response, sent = await self.client.call_timed(
                "Engine", "KeepAlive", request, give_up_ns=action.deadline_ns
            )
        except CoordinatorError as exc:
            log.debug("keep-alive of epoch %d failed: %s", action.epoch, exc)
            fenced = self.core.on_keepalive_error(exc, time.monotonic_ns())
            if fenced is not None:
                await self._demote(fenced, epoch=action.epoch)
            return
        self.core.on_keepalive_ok(action.epoch, sent)
        self.handoff_to = response.handoff_to
        if self.core.handoff_requested(action.epoch, response.handoff_to):
            log.info("engine %s asked to hand off to %s", self.engine_id, response.handoff_to)
            self._callbacks.put_nowait((self._on_handoff, response.handoff_to))

    async def _demote(
        self, reason: str, *, rejoin: bool | None = None, epoch: int | None = None
    ) -> None:
        was_active = self.core.demote(reason, time.monotonic_ns(), rejoin=rejoin, epoch=epoch)
        self._wake.set()
        if was_active:
            log.warning("engine %s demoted: %s", self.engine_id, reason)
            if self._on_demoted is not None:
                self._callbacks.put_nowait((self._on_demoted, reason))

    async def _watch_lease(self) -> None:
        """Demotes at the local lease end even while `_run` awaits a slow keep-alive."""
        while not self._closed.is_set():
            self._lease_granted.clear()
            action = self.core.lease_watch(time.monotonic_ns())
            if isinstance(action, policy.DemotionDue):
                await self._demote(action.reason)
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    self._lease_granted.wait(),
                    max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9),
                )

    async def _observe(self) -> None:
        async for event in self.client.observe(stop=self._closed):
            if not event.holder_id:
                self.core.on_role_freed(time.monotonic_ns())
                self._wake.set()

    async def _deliver(self) -> None:
        while True:
            callback, argument = await self._callbacks.get()
            try:
                outcome = callback(argument)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("engine session callback failed")

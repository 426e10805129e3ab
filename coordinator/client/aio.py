"""The asyncio client: same behaviour as coordinator.client.sync, on grpc.aio.

    client = AsyncCoordinatorClient("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
    session = AsyncEngineSession(client, "engine-a", ttl_ms=500, on_elected=..., on_demoted=...)
    await session.start()
    await session.wait_active(5)
    await session.submit_order("ord-1", "ACC1", "BTC-PERP", Side.BUY, "0.5", "64000")
    await session.close()

Retry decisions, lease arithmetic and the session's states come from policy.py, shared with the
blocking client; this module only awaits. Callbacks may be plain functions or coroutines.
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
from typing import Any

import grpc

from coordinator.client import policy, wire
from coordinator.client.errors import NotActive, NotHolder, Refused, StaleEpoch, Unavailable
from coordinator.client.sync import parse_addresses
from coordinator.core.model import Order, OrderStatus, Position, Side
from coordinator.core.results import FillResult, OrderResult
from coordinator.server.errors import reason_of
from coordinator.server.pipeline import CHANNEL_OPTIONS
from coordinator.v1 import admin_pb2, admin_pb2_grpc, engine_pb2, engine_pb2_grpc, types_pb2

log = logging.getLogger(__name__)
MS = policy.MS
Callback = Callable[[Any], None] | Callable[[Any], Awaitable[None]]


class AsyncCoordinatorClient:
    """The asyncio twin of CoordinatorClient."""

    def __init__(self, addresses: str | Sequence[str], *, retry: policy.RetryPolicy | None = None) -> None:
        self.addresses = parse_addresses(addresses)
        self.policy = retry or policy.RetryPolicy()
        self._channels = {a: grpc.aio.insecure_channel(a, options=CHANNEL_OPTIONS) for a in self.addresses}
        self._engine = {a: engine_pb2_grpc.EngineStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._admin = {a: admin_pb2_grpc.AdminStub(c) for a, c in self._channels.items()}  # type: ignore[no-untyped-call]
        self._leader: str | None = None
        self._rotation = itertools.cycle(self.addresses)
        self._random = random.Random()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(None)

    async def call(self, service: str, method: str, request: Any, *, give_up_ns: int | None = None) -> Any:
        return (await self.call_timed(service, method, request, give_up_ns=give_up_ns))[0]

    async def call_timed(self, service: str, method: str, request: Any, *,
                         give_up_ns: int | None = None) -> tuple[Any, int]:
        attempts = policy.Attempts(self.policy, time.monotonic_ns(), give_up_ns, self._random.random)
        stubs = self._engine if service == "Engine" else self._admin
        while (timeout := attempts.timeout_s(time.monotonic_ns())) is not None:
            address = self._leader or next(self._rotation)
            try:
                return await getattr(stubs[address], method)(request, timeout=timeout), attempts.started_ns
            except grpc.aio.AioRpcError as exc:
                reason, field = reason_of(exc)
                if self._leader == address:
                    self._leader = None
                delay = attempts.failed(exc.code().name, reason, field, exc.details() or "", address,
                                        time.monotonic_ns())
            if delay is None:
                break
            await asyncio.sleep(delay)
            await self.refresh_leader(timeout_s=0.2)
        raise attempts.exhausted(f"{service}.{method}")

    async def refresh_leader(self, timeout_s: float = 0.5) -> str | None:
        for address in self.addresses:
            try:
                status = await self._admin[address].Status(admin_pb2.StatusRequest(), timeout=timeout_s)
            except grpc.aio.AioRpcError:
                continue
            leader = str(status.leader_grpc_address)
            if leader in self._channels:
                self._leader = leader
                return leader
        return None

    async def orders(self, *, open_only: bool = False, account: str = "", instrument: str = "",
                     stale: bool = False) -> list[Order]:
        request = admin_pb2.ListOrdersRequest(open_only=open_only, account=account, instrument=instrument,
                                              consistency=types_pb2.STALE if stale else types_pb2.LINEARIZABLE)
        return [wire.order(o) for o in (await self.call("Admin", "ListOrders", request)).orders]

    async def positions(self, *, account: str = "", instrument: str = "", stale: bool = False) -> list[Position]:
        request = admin_pb2.ListPositionsRequest(account=account, instrument=instrument,
                                                 consistency=types_pb2.STALE if stale else types_pb2.LINEARIZABLE)
        return [wire.position(p) for p in (await self.call("Admin", "ListPositions", request)).positions]

    async def observe(self, stop: asyncio.Event | None = None) -> AsyncIterator[wire.LeadershipEvent]:
        """Leadership changes until `stop` is set; moves to another node when one fails."""
        stop = stop or asyncio.Event()
        for address in itertools.cycle(self.addresses):
            if stop.is_set():
                return
            stream = self._engine[address].Observe(engine_pb2.ObserveRequest())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    read = asyncio.ensure_future(stream.read())
                    done, _ = await asyncio.wait({read, stopper}, return_when=asyncio.FIRST_COMPLETED)
                    if stopper in done:
                        read.cancel()
                        stream.cancel()
                        return
                    event = read.result()
                    if event is grpc.aio.EOF:  # type: ignore[attr-defined]
                        break
                    yield wire.LeadershipEvent(event.epoch, event.holder_id, event.ttl_ms, event.node_id,
                                               event.applied_index, event.handoff_to, event.changed_at_ns)
            except grpc.aio.AioRpcError:
                pass
            finally:
                stopper.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.05)


class AsyncEngineSession:
    """The asyncio twin of EngineSession: same states, same lease rule, same callbacks."""

    def __init__(self, client: AsyncCoordinatorClient, engine_id: str, ttl_ms: int = 500, *,
                 on_elected: Callback | None = None, on_demoted: Callback | None = None,
                 margin_ms: int | None = None, rejoin_after_demotion: bool = True,
                 on_handoff: Callback | None = None) -> None:
        self.client = client
        self.engine_id = engine_id
        self.core = policy.SessionCore.for_ttl(engine_id, ttl_ms, margin_ms)
        self._requested_ttl_ms = ttl_ms
        self._on_elected = on_elected
        self._on_demoted = on_demoted
        self._rejoin = rejoin_after_demotion
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
        self._tasks = [asyncio.create_task(self._run()), asyncio.create_task(self._watch_lease()),
                       asyncio.create_task(self._observe()), asyncio.create_task(self._deliver())]
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

    @property
    def epoch(self) -> int | None:
        return self.core.active_epoch(time.monotonic_ns())

    async def wait_active(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.epoch is None:
            await asyncio.sleep(0.005)
        return self.epoch is not None

    async def resign(self, successor_engine_id: str = "") -> None:
        epoch = self.core.epoch if self.core.state is policy.SessionState.ACTIVE else None
        await self._demote("resigned", rejoin=False)
        if epoch is not None:
            await self.client.call("Engine", "Resign", engine_pb2.ResignRequest(
                engine_id=self.engine_id, epoch=epoch, successor_engine_id=successor_engine_id))

    def campaign_again(self) -> None:
        self.core.resume_standby(time.monotonic_ns())
        self._wake.set()

    # ------------------------------------------------------------------ fenced writes

    async def submit_order(self, client_order_id: str, account: str, instrument: str, side: Side,
                           quantity: Decimal | str, price: Decimal | str) -> OrderResult:
        response = await self._fenced("SubmitOrder", lambda epoch: engine_pb2.SubmitOrderRequest(
            engine_id=self.engine_id, epoch=epoch, client_order_id=client_order_id, account=account,
            instrument=instrument, side=types_pb2.Side.ValueType(side), quantity=str(quantity), price=str(price)))
        return OrderResult(wire.order(response.order), response.duplicate)

    async def update_order(self, client_order_id: str, status: OrderStatus, venue_order_id: str = "",
                           reason: str = "") -> OrderResult:
        response = await self._fenced("UpdateOrder", lambda epoch: engine_pb2.UpdateOrderRequest(
            engine_id=self.engine_id, epoch=epoch, client_order_id=client_order_id,
            status=types_pb2.OrderStatus.ValueType(status), venue_order_id=venue_order_id, reason=reason))
        return OrderResult(wire.order(response.order), response.duplicate)

    async def cancel_order(self, client_order_id: str) -> OrderResult:
        response = await self._fenced("CancelOrder", lambda epoch: engine_pb2.CancelOrderRequest(
            engine_id=self.engine_id, epoch=epoch, client_order_id=client_order_id))
        return OrderResult(wire.order(response.order), response.duplicate)

    async def report_fill(self, fill_id: str, client_order_id: str, quantity: Decimal | str,
                          price: Decimal | str) -> FillResult:
        response = await self._fenced("ReportFill", lambda epoch: engine_pb2.ReportFillRequest(
            engine_id=self.engine_id, epoch=epoch, fill_id=fill_id, client_order_id=client_order_id,
            quantity=str(quantity), price=str(price)))
        return FillResult(wire.order(response.order), wire.position(response.position), response.duplicate)

    async def _fenced(self, method: str, build: Callable[[int], Any]) -> Any:
        now = time.monotonic_ns()
        epoch, valid_until = self.core.active_epoch(now), self.core.valid_until_ns
        if epoch is None:
            if self.core.state is policy.SessionState.ACTIVE:
                await self._demote(policy.LEASE_EXPIRED)
            raise NotActive(f"engine {self.engine_id} does not hold the execution role; {method} was not sent")
        try:
            return await self.client.call("Engine", method, build(epoch), give_up_ns=valid_until)
        except (StaleEpoch, NotHolder) as exc:
            await self._demote(f"{exc.reason}: {exc.message}", epoch=epoch)
            raise
        except Unavailable as exc:
            if time.monotonic_ns() >= valid_until:
                await self._demote("lease expired during a call", epoch=epoch)
                raise NotActive(f"the lease of epoch {epoch} ran out during {method}; it may have been recorded",
                                maybe_applied=exc.maybe_applied) from exc
            raise

    # ----------------------------------------------------------------------- the loop

    async def _run(self) -> None:
        while not self._closed.is_set():
            action = self.core.next_action(time.monotonic_ns())
            try:
                if isinstance(action, policy.Campaign):
                    await self._campaign()
                elif isinstance(action, policy.KeepAlive):
                    await self._keep_alive(action)
                elif isinstance(action, policy.Demote):
                    await self._demote(action.reason)
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(),
                                               max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9))
                    self._wake.clear()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("engine session %s step failed", self.engine_id)
                await asyncio.sleep(0.05)

    async def _campaign(self) -> None:
        request = engine_pb2.CampaignRequest(engine_id=self.engine_id, ttl_ms=self._requested_ttl_ms,
                                             request_id=uuid.uuid4().hex)
        sent = time.monotonic_ns()
        try:
            response, sent = await self.client.call_timed("Engine", "Campaign", request,
                                                          give_up_ns=sent + self.core.ttl_ms * MS)
        except (Unavailable, Refused) as exc:
            log.info("campaign of %s failed: %s", self.engine_id, exc)
            self.core.on_denied(time.monotonic_ns())
            return
        if response.granted:
            await self._granted(response.epoch, response.ttl_ms, sent, tuple(map(wire.order, response.open_orders)),
                                tuple(map(wire.position, response.positions)), resumed=False)
        elif response.holder_id == self.engine_id and response.epoch == self.core.last_epoch_held:
            await self._resume(response.epoch)
        else:
            self.core.on_denied(time.monotonic_ns())

    async def _resume(self, epoch: int) -> None:
        sent = time.monotonic_ns()
        try:
            response, sent = await self.client.call_timed("Engine", "KeepAlive", engine_pb2.KeepAliveRequest(
                engine_id=self.engine_id, epoch=epoch), give_up_ns=sent + self.core.ttl_ms * MS)
            orders = await self.client.orders(open_only=True)
            positions = await self.client.positions()
        except (Unavailable, Refused):
            self.core.on_denied(time.monotonic_ns())
            return
        await self._granted(epoch, response.ttl_ms, sent, tuple(orders), tuple(positions), resumed=True)

    async def _granted(self, epoch: int, ttl_ms: int, sent: int, orders: tuple[Order, ...],
                       positions: tuple[Position, ...], *, resumed: bool) -> None:
        if not self.core.on_granted(epoch, ttl_ms, sent, time.monotonic_ns()):
            log.warning("grant of epoch %d arrived after its local lease; resigning it", epoch)
            with contextlib.suppress(Exception):
                await self.client.call("Engine", "Resign", engine_pb2.ResignRequest(engine_id=self.engine_id,
                                                                                    epoch=epoch))
            return
        self._lease_granted.set()
        log.info("engine %s elected with epoch %d (%d open orders)", self.engine_id, epoch, len(orders))
        if self._on_elected is not None:
            self._callbacks.put_nowait((self._on_elected,
                                        wire.Grant(self.engine_id, epoch, ttl_ms, orders, positions, resumed)))

    async def _keep_alive(self, action: policy.KeepAlive) -> None:
        request = engine_pb2.KeepAliveRequest(engine_id=self.engine_id, epoch=action.epoch)
        try:
            response, sent = await self.client.call_timed("Engine", "KeepAlive", request,
                                                          give_up_ns=action.deadline_ns)
        except (StaleEpoch, NotHolder) as exc:
            await self._demote(f"{exc.reason}: {exc.message}", epoch=action.epoch)
            return
        except (Unavailable, Refused):
            self.core.on_keepalive_failed(time.monotonic_ns())
            return
        self.core.on_keepalive_ok(action.epoch, sent)
        self.handoff_to = response.handoff_to
        if self.core.handoff_requested(action.epoch, response.handoff_to):
            self._callbacks.put_nowait((self._on_handoff, response.handoff_to))

    async def _demote(self, reason: str, *, rejoin: bool | None = None, epoch: int | None = None) -> None:
        rejoin = self._rejoin if rejoin is None else rejoin
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
            if isinstance(action, policy.Demote):
                await self._demote(action.reason)
                continue
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._lease_granted.wait(),
                                       max(0.0, (action.until_ns - time.monotonic_ns()) / 1e9))

    async def _observe(self) -> None:
        async for event in self.client.observe(self._closed):
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

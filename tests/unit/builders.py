"""Builders for core commands with sensible defaults, so tests say only what matters."""

from __future__ import annotations

from decimal import Decimal

from coordinator.core.commands import (
    Campaign,
    CancelOrder,
    KeepAlive,
    ReportFill,
    Resign,
    SubmitOrder,
    UpdateOrder,
)
from coordinator.core.model import OrderStatus, Side
from coordinator.core.results import Result
from coordinator.core.state import CoordinatorState


def campaign(engine: str = "e1", request: str = "r1", ttl_ms: int = 500) -> Campaign:
    return Campaign(engine, ttl_ms, request)


def keep_alive(engine: str = "e1", epoch: int = 1) -> KeepAlive:
    return KeepAlive(engine, epoch)


def resign(engine: str = "e1", epoch: int = 1, successor: str = "") -> Resign:
    return Resign(engine, epoch, successor)


def submit(
    cid: str = "o1",
    *,
    quantity: str = "1",
    price: str = "100",
    side: Side = Side.BUY,
    account: str = "A1",
    instrument: str = "BTC-USD",
    engine: str = "e1",
    epoch: int = 1,
) -> SubmitOrder:
    return SubmitOrder(
        engine, epoch, cid, account, instrument, side, Decimal(quantity), Decimal(price)
    )


def update(
    cid: str = "o1",
    status: OrderStatus = OrderStatus.OPEN,
    *,
    venue_id: str = "v1",
    engine: str = "e1",
    epoch: int = 1,
    reason: str = "",
) -> UpdateOrder:
    return UpdateOrder(engine, epoch, cid, status, venue_id, reason)


def cancel(cid: str = "o1", *, engine: str = "e1", epoch: int = 1) -> CancelOrder:
    return CancelOrder(engine, epoch, cid)


def fill(
    fill_id: str = "f1",
    cid: str = "o1",
    *,
    quantity: str = "1",
    price: str = "100",
    engine: str = "e1",
    epoch: int = 1,
) -> ReportFill:
    return ReportFill(engine, epoch, fill_id, cid, Decimal(quantity), Decimal(price))


class Clock:
    """A leader clock for tests: each command is stamped 1 ms after the previous one."""

    def __init__(self, start_ns: int = 1_700_000_000_000_000_000) -> None:
        self.now_ns = start_ns

    def tick(self, ms: int = 1) -> int:
        self.now_ns += ms * 1_000_000
        return self.now_ns


class Harness:
    """A state machine plus a clock: `h(cmd)` applies with a fresh leader timestamp."""

    def __init__(self) -> None:
        self.state = CoordinatorState()
        self.clock = Clock()

    def __call__(self, command: object, *, advance_ms: int = 1) -> Result:
        return self.state.apply(command, self.clock.tick(advance_ms))  # type: ignore[arg-type]

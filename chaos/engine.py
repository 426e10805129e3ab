"""A chaos workload engine: one process that competes for the execution role and, while it
holds it, submits, acknowledges, cancels and fills orders through the client library, which
retries ambiguous outcomes with the same keys. Every call goes into the history as invoke and
then ok / fail / info, with the epoch it used.

On SIGUSR1 it pauses its random workload for a burst: `--burst-orders` orders as fast as
BURST_IN_FLIGHT calls at a time allow, each submitted and then reported canceled by the venue
(an IOC order that found nothing), so the book and the risk limits end where they were. The
nemesis uses it to push the majority's Raft log several AppendEntries batches (64 KiB each) past
a stranded leader. Burst orders take the normal fenced path and are recorded like any other
call; the burst itself is one `burst` operation whose completion reports the counts.

    python -m chaos.engine --engine-id eng-a --cluster ADDRS --history FILE --seed 7
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from chaos.history import FAIL, INFO, OK, HistoryWriter
from coordinator.client import (
    CoordinatorClient,
    EngineSession,
    Grant,
    NotActive,
    OrderStatus,
    Refused,
    RetryPolicy,
    Side,
    Unavailable,
)
from coordinator.core.model import Order
from coordinator.core.results import FillResult, OrderResult

log = logging.getLogger("chaos.engine")
ACCOUNTS = ("ACC1", "ACC2")
INSTRUMENTS = ("BTC-USD", "ETH-USD")
BURST_IN_FLIGHT = 16  # calls in flight during a burst
BURST_BUDGET_S = 40.0  # a burst gives up after this long, whatever it has sent
# ... or once this engine has not been active for this long (another took over)
BURST_IDLE_S = 5.0


class ChaosEngine:
    def __init__(
        self,
        engine_id: str,
        cluster: str,
        history: Path,
        seed: int,
        ttl_ms: int,
        rate: float,
        burst_orders: int = 1000,
    ) -> None:
        self.engine_id = engine_id
        self.rate = rate
        self.burst_orders = burst_orders
        self._burst_requested = threading.Event()
        self._bursts = 0
        self.random = random.Random(f"{seed}-{engine_id}")
        self.history = HistoryWriter(history, engine_id)
        self.client = CoordinatorClient(
            cluster, retry=RetryPolicy(call_timeout_ms=1000, budget_ms=4000)
        )
        # open orders this engine knows of (its own and inherited)
        self.book: dict[str, Order] = {}
        self._book_lock = threading.Lock()
        self._stop = threading.Event()
        self._seq = 0
        self.session = EngineSession(
            self.client,
            engine_id,
            ttl_ms,
            on_elected=self._elected,
            on_demoted=self._demoted,
            on_handoff=self._hand_off,
        )

    def _hand_off(self, successor: str) -> None:
        """A planned hand-off: give the role to `successor`, then stand by again (a drained
        engine is the next failover's standby, as an operator would keep it)."""
        self.history.write(OK, "handoff", epoch=self.session.core.epoch, to=successor)
        self.session.resign(successor_engine_id=successor)
        self.session.campaign_again()

    def _elected(self, grant: Grant) -> None:
        with self._book_lock:
            self.book = {o.client_order_id: o for o in grant.open_orders}
        self.history.write(
            OK,
            "elected",
            epoch=grant.epoch,
            open_orders=len(grant.open_orders),
            resumed=grant.resumed,
        )

    def _demoted(self, reason: str) -> None:
        self.history.write(OK, "demoted", epoch=self.session.core.epoch, reason=reason)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGUSR1, lambda *_: self._burst_requested.set())
        self.session.start()
        self.history.write(OK, "started")
        while not self._stop.is_set():
            if self._burst_requested.is_set():
                self._burst_requested.clear()
                self._burst()
                continue
            epoch = self.session.epoch
            if epoch is None:
                self._stop.wait(0.02)
                continue
            self._one_operation(epoch)
            self._stop.wait(self.random.expovariate(self.rate))
        self.session.close(resign=True)
        self.history.write(OK, "stopped")
        self.history.close()

    def _one_operation(self, epoch: int) -> None:
        with self._book_lock:
            candidates = list(self.book.values())
        roll = self.random.random()
        if not candidates or roll < 0.45:
            self._seq += 1
            cid = f"{self.engine_id}-{self._seq}"
            side = self.random.choice(list(Side))
            quantity = str(self.random.choice([1, 2, 3]))
            price = str(self.random.choice([99, 100, 101]))
            account, instrument = self.random.choice(ACCOUNTS), self.random.choice(INSTRUMENTS)
            self._call(
                "submit",
                epoch,
                cid,
                lambda: self.session.submit_order(cid, account, instrument, side, quantity, price),
                account=account,
                instrument=instrument,
                side=side.name,
                quantity=quantity,
                price=price,
            )
            return
        order = self.random.choice(candidates)
        cid = order.client_order_id
        if roll < 0.6 and order.status is OrderStatus.PENDING_NEW:
            self._call(
                "update",
                epoch,
                cid,
                lambda: self.session.update_order(cid, OrderStatus.OPEN, f"V-{cid}"),
                status="OPEN",
            )
        elif roll < 0.7:
            self._call("cancel", epoch, cid, lambda: self.session.cancel_order(cid))
        elif roll < 0.78 and not order.filled_quantity:
            self._venue_canceled(epoch, cid)
        else:
            remaining = order.remaining_quantity
            quantity = str(min(remaining, 1)) if self.random.random() < 0.7 else str(remaining)
            self._seq += 1
            fill_id = f"{self.engine_id}-f{self._seq}"
            self._call(
                "fill",
                epoch,
                fill_id,
                lambda: self.session.report_fill(fill_id, cid, quantity, "100"),
                client_order_id=cid,
                quantity=quantity,
                price="100",
            )

    # ------------------------------------------------------------------ bursts

    def _burst(self) -> None:
        """One burst of `burst_orders` submit-then-canceled orders (see the module docstring).
        Orders wait while this engine is not active (a lapsed lease resumes), within
        BURST_IDLE_S; the burst is abandoned if it stays inactive, and ends at BURST_BUDGET_S."""
        self._bursts += 1
        key = f"{self.engine_id}-b{self._bursts}"
        op_id = self.history.invoke("burst", 0, key, orders=self.burst_orders)
        started = time.monotonic()
        deadline = started + BURST_BUDGET_S
        numbers = iter(range(self.burst_orders))
        numbers_lock = threading.Lock()
        abandoned = threading.Event()
        accepted = [0] * BURST_IN_FLIGHT

        def worker(slot: int) -> None:
            while not (self._stop.is_set() or abandoned.is_set()) and time.monotonic() < deadline:
                with numbers_lock:
                    number = next(numbers, None)
                if number is None:
                    return
                epoch = self._wait_active(min(deadline, time.monotonic() + BURST_IDLE_S))
                if epoch is None:
                    abandoned.set()
                    return
                accepted[slot] += self._burst_order(f"{key}-{number}", epoch)

        with ThreadPoolExecutor(BURST_IN_FLIGHT, thread_name_prefix="burst") as pool:
            list(pool.map(worker, range(BURST_IN_FLIGHT)))
        self.history.write(
            OK,
            "burst",
            op_id,
            0,
            key,
            orders=self.burst_orders,
            accepted=sum(accepted),
            abandoned=abandoned.is_set(),
            elapsed_s=round(time.monotonic() - started, 2),
        )

    def _wait_active(self, until: float) -> int | None:
        """The epoch to act under, waiting (until `until`, monotonic) while not active."""
        epoch = self.session.epoch
        for _ in range(int(BURST_IDLE_S / 0.02) + 1):
            if epoch is not None or self._stop.is_set() or time.monotonic() >= until:
                break
            self._stop.wait(0.02)
            epoch = self.session.epoch
        return epoch

    def _burst_order(self, cid: str, epoch: int) -> int:
        """Submits `cid` and reports it canceled by the venue; 1 if the submit was accepted."""
        side = self.random.choice(list(Side))
        account, instrument = self.random.choice(ACCOUNTS), self.random.choice(INSTRUMENTS)
        result = self._call(
            "submit",
            epoch,
            cid,
            lambda: self.session.submit_order(cid, account, instrument, side, "1", "100"),
            account=account,
            instrument=instrument,
            side=side.name,
            quantity="1",
            price="100",
        )
        if result is None:
            return 0
        if result.order.status is OrderStatus.PENDING_NEW:
            self._venue_canceled(epoch, cid)
        return 1

    # ------------------------------------------------------------------ one call

    def _venue_canceled(self, epoch: int, cid: str) -> None:
        """The venue confirms a cancel of `cid` (an UpdateOrder to CANCELED), recorded."""
        self._call(
            "update",
            epoch,
            cid,
            lambda: self.session.update_order(cid, OrderStatus.CANCELED, f"V-{cid}"),
            status="CANCELED",
        )

    def _call(
        self, op: str, epoch: int, key: str, action: Any, **fields: Any
    ) -> OrderResult | FillResult | None:
        """Makes one call and records it; returns its result if it was acknowledged."""
        op_id = self.history.invoke(op, epoch, key, **fields)
        try:
            result = action()
        except Refused as exc:
            self.history.write(FAIL, op, op_id, epoch, key, reason=exc.reason, message=exc.message)
            if exc.reason in ("UNKNOWN_ORDER", "ILLEGAL_TRANSITION", "OVERFILL"):
                self._forget(key if op != "fill" else fields["client_order_id"])
            return None
        except NotActive as exc:
            outcome = INFO if exc.maybe_applied else FAIL
            self.history.write(
                outcome, op, op_id, epoch, key, reason="NOT_ACTIVE", message=str(exc)
            )
            return None
        except Unavailable as exc:
            outcome = INFO if exc.maybe_applied else FAIL
            self.history.write(
                outcome, op, op_id, epoch, key, reason="UNAVAILABLE", message=str(exc)
            )
            return None
        order = result.order
        value: dict[str, Any] = {
            "duplicate": result.duplicate,
            "status": order.status.name,
            "filled_quantity": str(order.filled_quantity),
            "order_epoch": order.epoch,
        }
        if isinstance(result, FillResult):
            value["position_quantity"] = str(result.position.quantity)
        self.history.write(OK, op, op_id, epoch, key, **value)
        self._remember(result)
        return result  # type: ignore[no-any-return]

    def _remember(self, result: OrderResult | FillResult) -> None:
        order = result.order
        with self._book_lock:
            if order.is_open:
                self.book[order.client_order_id] = order
            else:
                self.book.pop(order.client_order_id, None)

    def _forget(self, cid: str) -> None:
        with self._book_lock:
            self.book.pop(cid, None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine-id", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--history", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ttl-ms", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=40.0, help="operations per second while active"
    )
    parser.add_argument(
        "--burst-orders", type=int, default=1000, help="orders per burst (on SIGUSR1)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s {args.engine_id} %(name)s: %(message)s"
    )
    ChaosEngine(
        args.engine_id,
        args.cluster,
        args.history,
        args.seed,
        args.ttl_ms,
        args.rate,
        args.burst_orders,
    ).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A chaos workload engine: one process that competes for the execution role and, while it
holds it, submits, acknowledges, cancels and fills orders through the client library, which
retries ambiguous outcomes with the same keys. Every call goes into the history as invoke and
then ok / fail / info, with the epoch it used.

    python -m chaos.engine --engine-id eng-a --cluster ADDRS --history FILE --seed 7
"""

from __future__ import annotations

import argparse
import logging
import random
import signal
import sys
import threading
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


class ChaosEngine:
    def __init__(self, engine_id: str, cluster: str, history: Path, seed: int, ttl_ms: int, rate: float) -> None:
        self.engine_id = engine_id
        self.rate = rate
        self.random = random.Random(f"{seed}-{engine_id}")
        self.history = HistoryWriter(history, engine_id)
        self.client = CoordinatorClient(cluster, retry=RetryPolicy(call_timeout_ms=1000, budget_ms=4000))
        self.book: dict[str, Order] = {}      # open orders this engine knows of (its own and inherited)
        self._book_lock = threading.Lock()
        self._stop = threading.Event()
        self._seq = 0
        self.session = EngineSession(self.client, engine_id, ttl_ms, on_elected=self._elected,
                                     on_demoted=self._demoted)

    def _elected(self, grant: Grant) -> None:
        with self._book_lock:
            self.book = {o.client_order_id: o for o in grant.open_orders}
        self.history.write(OK, "elected", epoch=grant.epoch, open_orders=len(grant.open_orders),
                           resumed=grant.resumed)

    def _demoted(self, reason: str) -> None:
        self.history.write(OK, "demoted", epoch=self.session.core.epoch, reason=reason)

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        self.session.start()
        self.history.write(OK, "started")
        while not self._stop.is_set():
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
            self._call("submit", epoch, cid, lambda: self.session.submit_order(cid, account, instrument, side,
                                                                                quantity, price),
                       account=account, instrument=instrument, side=side.name, quantity=quantity, price=price)
            return
        order = self.random.choice(candidates)
        cid = order.client_order_id
        if roll < 0.6 and order.status is OrderStatus.PENDING_NEW:
            self._call("update", epoch, cid, lambda: self.session.update_order(cid, OrderStatus.OPEN,
                                                                                f"V-{cid}"), status="OPEN")
        elif roll < 0.7:
            self._call("cancel", epoch, cid, lambda: self.session.cancel_order(cid))
        elif roll < 0.78 and not order.filled_quantity:
            self._call("update", epoch, cid, lambda: self.session.update_order(cid, OrderStatus.CANCELED,
                                                                                f"V-{cid}"), status="CANCELED")
        else:
            remaining = order.remaining_quantity
            quantity = str(min(remaining, 1)) if self.random.random() < 0.7 else str(remaining)
            self._seq += 1
            fill_id = f"{self.engine_id}-f{self._seq}"
            self._call("fill", epoch, fill_id, lambda: self.session.report_fill(fill_id, cid, quantity, "100"),
                       client_order_id=cid, quantity=quantity, price="100")

    def _call(self, op: str, epoch: int, key: str, action: Any, **fields: Any) -> None:
        op_id = self.history.invoke(op, epoch, key, **fields)
        try:
            result = action()
        except Refused as exc:
            self.history.write(FAIL, op, op_id, epoch, key, reason=exc.reason, message=exc.message)
            if exc.reason in ("UNKNOWN_ORDER", "ILLEGAL_TRANSITION", "OVERFILL"):
                self._forget(key if op != "fill" else fields["client_order_id"])
            return
        except NotActive as exc:
            outcome = INFO if exc.maybe_applied else FAIL
            self.history.write(outcome, op, op_id, epoch, key, reason="NOT_ACTIVE", message=str(exc))
            return
        except Unavailable as exc:
            outcome = INFO if exc.maybe_applied else FAIL
            self.history.write(outcome, op, op_id, epoch, key, reason="UNAVAILABLE", message=str(exc))
            return
        order = result.order
        value: dict[str, Any] = {"duplicate": result.duplicate, "status": order.status.name,
                                 "filled_quantity": str(order.filled_quantity), "order_epoch": order.epoch}
        if isinstance(result, FillResult):
            value["position_quantity"] = str(result.position.quantity)
        self.history.write(OK, op, op_id, epoch, key, **value)
        self._remember(result)

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
    parser.add_argument("--rate", type=float, default=40.0, help="operations per second while active")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {args.engine_id} %(name)s: %(message)s")
    ChaosEngine(args.engine_id, args.cluster, args.history, args.seed, args.ttl_ms, args.rate).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

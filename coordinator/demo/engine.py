"""A demo execution engine: one process, built on the client library as an engine developer
would use it.

While it holds the role it streams orders: record the order in the coordinator (SubmitOrder,
fenced by its epoch), check its lease, send it to the venue, then record the venue's
acknowledgement and fills. On election it reconciles the orders it inherits in doubt
(PENDING_NEW: recorded, maybe not sent) by client_order_id (warm takeover): one the venue
already has gets its fills and acknowledgement recorded; one the venue never received is sent
now, once. It never sends an order the coordinator did not record.

For the demo's zombie scene it keeps the write it was about to make when it was paused
(SIGSTOP): on SIGCONT it sends that write as it was, with the epoch it held then, the way a
message queued before a pause reaches the network after it. The coordinator must refuse it.

Events (JSON lines in --events) tell the orchestrator what happened: started, elected, demoted,
order, zombie_write, stopped.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from coordinator.client import (
    CoordinatorClient,
    EngineSession,
    Grant,
    NotActive,
    NotHolder,
    Order,
    OrderStatus,
    Refused,
    Side,
    StaleEpoch,
    Unavailable,
)
from coordinator.demo.summary import InDoubt
from coordinator.demo.venue import VenueConnection
from coordinator.v1 import engine_pb2, types_pb2

log = logging.getLogger("demo.engine")


class DemoEngine:
    def __init__(
        self,
        engine_id: str,
        cluster: str,
        venue: str,
        ttl_ms: int,
        events: Path,
        rate: float,
        account: str = "DEMO",
        instrument: str = "BTC-USD",
    ) -> None:
        self.engine_id, self.account, self.instrument = engine_id, account, instrument
        self.rate = rate
        self.client = CoordinatorClient(cluster)
        self.venue = VenueConnection(venue)
        self._events = open(events, "a", buffering=1)  # noqa: SIM115 (open for the process's life)
        self._events_lock = threading.Lock()
        self._active = threading.Event()
        self._epoch = 0
        self._stop = threading.Event()
        self._resumed = threading.Event()
        self._prepared: tuple[str, int] | None = None
        self._placing = threading.Lock()  # held while one order is in flight
        self.session = EngineSession(
            self.client,
            engine_id,
            ttl_ms,
            on_elected=self._elected,
            on_demoted=self._demoted,
            on_handoff=self._hand_off,
        )

    def event(self, kind: str, **fields: Any) -> None:
        with self._events_lock:
            self._events.write(
                json.dumps({"t": time.time(), "engine": self.engine_id, "event": kind, **fields})
                + "\n"
            )

    # ------------------------------------------------------------------ callbacks

    def _elected(self, grant: Grant) -> None:
        granted_at = time.time()
        # an order of a previous epoch may still be in flight on the main thread
        with self._placing:
            in_doubt = self._reconcile(grant)
        self._epoch = grant.epoch
        self.event(
            "elected",
            epoch=grant.epoch,
            open_orders=len(grant.open_orders),
            resumed=grant.resumed,
            in_doubt=in_doubt,
            granted_at=granted_at,
            reconcile_ms=round((time.time() - granted_at) * 1000, 1),
        )
        self._active.set()

    def _demoted(self, reason: str) -> None:
        self._active.clear()
        self.event("demoted", epoch=self._epoch, reason=reason)

    def _hand_off(self, successor: str) -> None:
        """Planned hand-off: stop placing orders, let the one in flight finish, resign to it."""
        self._active.clear()
        with self._placing:
            self.event("handoff", to=successor, epoch=self._epoch)
            self.session.resign(successor_engine_id=successor)
        self.session.campaign_again()  # back as a standby; the grant is reserved for the successor

    def _reconcile(self, grant: Grant) -> dict[str, int]:
        """Warm takeover: bring the in-doubt orders of the inherited book in line with the venue,
        by client_order_id. Returns how many in-doubt orders ended in each `InDoubt` outcome;
        each is counted once, so the in-doubt count is the sum."""
        outcomes = dict.fromkeys(InDoubt, 0)
        for order in grant.open_orders:
            if order.status is OrderStatus.PENDING_NEW:
                # an order past PENDING_NEW has its venue state recorded already
                outcomes[self._reconcile_one(order, grant.epoch)] += 1
        return {str(outcome): count for outcome, count in outcomes.items()}

    def _reconcile_one(self, order: Order, epoch: int) -> InDoubt:
        """Asks the venue about one in-doubt order, sends it if the venue never received it and
        this engine still holds `epoch`, and records its venue state. Returns what became of it;
        an operating error (cluster, venue) is NOT_RECONCILED, never raised."""
        cid = order.client_order_id
        try:
            status = self.venue.request({"op": "query", "cid": cid})
            outcome = InDoubt.AT_VENUE
            if not status["known"]:
                if self.session.epoch != epoch:
                    return InDoubt.NOT_RECONCILED  # the grant ended: never send for it
                status = self.venue.request(
                    {
                        "op": "new",
                        "cid": cid,
                        "engine": self.engine_id,
                        "epoch": epoch,
                        "side": order.side.name,
                        "quantity": str(order.quantity),
                        "price": str(order.price),
                    }
                )
                outcome = InDoubt.SENT_NOW
            self._record_venue_state(cid, status)
        except (NotActive, Refused, Unavailable, OSError) as exc:
            # it may have reached the venue; the next holder asks the venue again
            log.warning("reconciling %s failed: %s", cid, exc)
            return InDoubt.NOT_RECONCILED
        return outcome

    def _record_venue_state(self, cid: str, venue_reply: dict[str, Any]) -> None:
        """Fills first, then the acknowledgement: an order past PENDING_NEW in the book has all
        its venue state recorded, so only PENDING_NEW orders are ever in doubt after a takeover."""
        for fill in venue_reply["fills"]:
            self.session.report_fill(fill["fill_id"], cid, fill["quantity"], fill["price"])
        self.session.update_order(cid, OrderStatus.OPEN, venue_reply["venue_order_id"])

    # ------------------------------------------------------------------ the loop

    def run(self) -> None:
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        signal.signal(signal.SIGCONT, lambda *_: self._resumed.set())
        self.session.start()
        self.event("started")
        seq = 0
        while not self._stop.is_set():
            if self._resumed.is_set():  # woken from a pause, wherever it struck
                self._resumed.clear()
                self._send_prepared_as_zombie()
                continue
            if not self._active.wait(0.05):
                continue
            epoch = self._epoch
            seq += 1
            cid = f"{self.engine_id}-e{epoch}-{seq:05d}"
            self._prepared = (cid, epoch)  # the write this engine is about to make
            time.sleep(1.0 / self.rate)  # pacing: a SIGSTOP usually lands here
            if self._resumed.is_set():
                continue
            with self._placing:
                if self._active.is_set():
                    self._place(cid)
        self.session.close(resign=True)
        self.event("stopped")

    def _place(self, cid: str) -> None:
        side = Side.BUY if int(cid[-1]) % 2 else Side.SELL
        try:
            result = self.session.submit_order(cid, self.account, self.instrument, side, "1", "100")
        except (NotActive, StaleEpoch, NotHolder) as exc:
            self.event("refused", cid=cid, reason=type(exc).__name__)
            return
        except (Refused, Unavailable) as exc:
            self.event("failed", cid=cid, error=str(exc))
            return
        epoch = result.order.epoch
        if result.duplicate or self.session.epoch != epoch:
            return  # only the engine that recorded it, still holding that epoch, sends it
        try:
            reply = self.venue.request(
                {
                    "op": "new",
                    "cid": cid,
                    "engine": self.engine_id,
                    "epoch": epoch,
                    "side": side.name,
                    "quantity": "1",
                    "price": "100",
                }
            )
            self.event("order", cid=cid, epoch=epoch)
            self._record_venue_state(cid, reply)
        except (NotActive, Refused, Unavailable, OSError) as exc:
            self.event("failed", cid=cid, error=str(exc))

    def _send_prepared_as_zombie(self) -> None:
        """The write queued before the pause, sent as it was (its old epoch, no lease check)."""
        if self._prepared is None:
            return
        cid, epoch = self._prepared
        self._prepared = None
        request = engine_pb2.SubmitOrderRequest(
            engine_id=self.engine_id,
            epoch=epoch,
            client_order_id=cid,
            account=self.account,
            instrument=self.instrument,
            side=types_pb2.BUY,
            quantity="1",
            price="100",
        )
        try:
            self.client.call("Engine", "SubmitOrder", request)
            outcome = "ACCEPTED"
        except Refused as exc:
            outcome = exc.reason
        except Unavailable as exc:
            outcome = f"UNAVAILABLE: {exc}"
        self.event(
            "zombie_write",
            cid=cid,
            epoch=epoch,
            outcome=outcome,
            demoted=self.session.epoch != epoch,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--engine-id", required=True)
    parser.add_argument("--cluster", required=True)
    parser.add_argument("--venue", required=True)
    parser.add_argument("--ttl-ms", type=int, default=500)
    parser.add_argument("--events", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=40.0, help="orders per second while active")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format=f"%(asctime)s {args.engine_id} %(name)s: %(message)s"
    )
    DemoEngine(args.engine_id, args.cluster, args.venue, args.ttl_ms, args.events, args.rate).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

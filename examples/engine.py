"""The README's client-library example, as a file that runs: an engine takes the execution role,
records each order before it sends it, and reports what the venue did. The venue here is a
paper stand-in that acknowledges and fills every order; put your venue connection in its place.

    COORDINATOR_CLUSTER=127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003 python examples/engine.py

The tests run it against a local cluster (tests/e2e/test_readme_example.py), and check that the
README shows the lines between the two `README` markers below, unchanged.
"""

from __future__ import annotations

import itertools
import os
from typing import TYPE_CHECKING

from coordinator.client import CoordinatorClient, EngineSession, OrderStatus, Side

if TYPE_CHECKING:
    from coordinator.client import Grant, Order


class PaperVenue:
    """A stand-in for a venue connection: acknowledges every order, and fills it in full."""

    def __init__(self) -> None:
        self.received: dict[str, str] = {}  # client_order_id -> venue_order_id
        self._ids = itertools.count(1)

    def send(self, order: Order) -> str:
        venue_order_id = self.received.setdefault(order.client_order_id, f"V{next(self._ids)}")
        return venue_order_id

    def knows(self, client_order_id: str) -> bool:
        return client_order_id in self.received


venue = PaperVenue()


def reconcile(grant: Grant) -> None:
    """Before trading at a new epoch: an order still PENDING_NEW may never have reached the
    venue (the last holder died between recording it and sending it). Ask the venue; send what
    it never got. If this raises, the session gives the role back and campaigns again."""
    for order in grant.open_orders:
        if order.status is OrderStatus.PENDING_NEW and not venue.knows(order.client_order_id):
            session.update_order(order.client_order_id, OrderStatus.OPEN, venue.send(order))
    print(f"active at epoch {grant.epoch} with {len(grant.open_orders)} open orders")


def stop_trading(reason: str) -> None:
    print(f"stop trading: {reason}")  # from here every order call raises NotActive


# README: start
client = CoordinatorClient(os.environ["COORDINATOR_CLUSTER"])  # "10.0.1.5:7001,10.0.2.5:7001,..."
session = EngineSession(
    client, "engine-a", ttl_ms=2000, on_elected=reconcile, on_demoted=stop_trading
).start()
if not session.wait_active(timeout_s=30):
    raise SystemExit("engine-a was not granted the execution role within 30 s")
result = session.submit_order("ord-1", "ACC1", "BTC-PERP", Side.BUY, "0.5", "64000")
if not result.duplicate and session.active:  # recorded first, lease checked, then sent
    session.update_order("ord-1", OrderStatus.OPEN, venue.send(result.order))
    session.report_fill("fill-1", "ord-1", "0.5", "64000")  # as the venue reports it
order, fills = client.order_and_fills("ord-1")
print(f"{order.client_order_id}: {order.status}, {order.filled_quantity} in {len(fills)} fill(s)")
session.close()  # resigns: the standby is granted at once
# README: end

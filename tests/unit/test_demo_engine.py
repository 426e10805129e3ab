"""The demo engine's warm takeover reports each in-doubt order it inherits once, by what became
of it (issue 14, item 9: an order sent to the venue whose state then could not be recorded was
reported as sent and as failed and not as in doubt: "0 were in doubt ... 1 sent now ...; 1
could not be reconciled"). The venue and the engine's session are doubles; the engine and its
`elected` event are the real ones."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from coordinator.client import Grant, Order, OrderStatus, Side, Unavailable
from coordinator.demo.engine import DemoEngine


def order(cid: str, status: OrderStatus) -> Order:
    return Order(
        cid, "DEMO", "BTC-USD", Side.BUY, Decimal(1), Decimal(100), status, Decimal(0), None,
        "", False, 1, "eng-a", 0, 0, "",
    )  # fmt: skip


class VenueDouble:
    """Tests only: knows `known`; acknowledges a new order without fills."""

    def __init__(self, known: set[str]) -> None:
        self.known = set(known)
        self.sent: list[str] = []

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        cid = message["cid"]
        if message["op"] == "new":
            self.sent.append(cid)
            self.known.add(cid)
        return {"known": cid in self.known, "venue_order_id": f"V-{cid}", "fills": []}


class SessionDouble:
    """Tests only: holds `epoch`; recording an order's state fails for the ids in `unavailable`."""

    def __init__(self, epoch: int, unavailable: set[str]) -> None:
        self.epoch = epoch
        self.unavailable = unavailable
        self.recorded: list[str] = []

    def update_order(self, cid: str, status: OrderStatus, venue_order_id: str) -> None:
        if cid in self.unavailable:
            raise Unavailable("no quorum", maybe_applied=False)
        self.recorded.append(cid)

    def report_fill(self, *args: object) -> None:
        raise AssertionError("the venue double has no fills")


def elected_event(tmp_path: Path, known: set[str], unavailable: set[str]) -> dict[str, Any]:
    events = tmp_path / "events.jsonl"
    engine = DemoEngine("eng-b", "127.0.0.1:1", "127.0.0.1:1", 500, events, 40.0)
    venue, session = VenueDouble(known), SessionDouble(2, unavailable)
    engine.venue, engine.session = venue, session  # type: ignore[assignment]
    book = (
        order("at-venue", OrderStatus.PENDING_NEW),
        order("never-sent", OrderStatus.PENDING_NEW),
        order("sent-then-unrecorded", OrderStatus.PENDING_NEW),
        order("open", OrderStatus.OPEN),
    )
    engine._elected(Grant("eng-b", 2, 500, book, ()))
    (event,) = [json.loads(line) for line in events.read_text().splitlines()]
    assert venue.sent == ["never-sent", "sent-then-unrecorded"]
    assert session.recorded == ["at-venue", "never-sent"]
    return {k: event[k] for k in ("event", "epoch", "open_orders", "in_doubt")}


def test_each_in_doubt_order_is_reported_once_by_what_became_of_it(tmp_path: Path) -> None:
    event = elected_event(tmp_path, known={"at-venue"}, unavailable={"sent-then-unrecorded"})
    assert event == {
        "event": "elected",
        "epoch": 2,
        "open_orders": 4,
        "in_doubt": {"at_venue": 1, "sent_now": 1, "not_reconciled": 1},
    }

"""What tests do to a running cluster through its public API, written once: grant an engine the
role, submit an order, keep a writer submitting. Tests only."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from coordinator.client import CoordinatorClient, RetryPolicy, Side
from coordinator.client.errors import Unavailable
from coordinator.localcluster import LocalCluster
from coordinator.v1 import engine_pb2

MakeCluster = Callable[..., LocalCluster]  # the make_cluster fixture (tests/conftest.py)


def order_request(
    epoch: int, cid: str, engine_id: str = "e1", **fields: Any
) -> engine_pb2.SubmitOrderRequest:
    """A valid order (buy 1 BTC-USD at 100 for account A1); `fields` override any part of it."""
    request: dict[str, Any] = dict(
        engine_id=engine_id,
        epoch=epoch,
        client_order_id=cid,
        account="A1",
        instrument="BTC-USD",
        side=Side.BUY,
        quantity="1",
        price="100",
    )
    request.update(fields)
    return engine_pb2.SubmitOrderRequest(**request)


def grant(client: CoordinatorClient, engine_id: str = "e1", ttl_ms: int = 600_000) -> int:
    """Campaigns for `engine_id` with a fresh request id; asserts it was granted and returns the
    epoch."""
    response = client.call(
        "Engine",
        "Campaign",
        engine_pb2.CampaignRequest(
            engine_id=engine_id, ttl_ms=ttl_ms, request_id=f"{engine_id}-{time.monotonic_ns()}"
        ),
    )
    assert response.granted, response
    return int(response.epoch)


def submit(
    client: CoordinatorClient, epoch: int, cid: str, engine_id: str = "e1"
) -> engine_pb2.SubmitOrderResponse:
    response: engine_pb2.SubmitOrderResponse = client.call(
        "Engine", "SubmitOrder", order_request(epoch, cid, engine_id)
    )
    return response


class Writer:
    """Submits orders in a loop and records every acknowledged one, the failures, and the
    longest stretch without an acknowledged write. By default it sends raw SubmitOrder calls at
    `epoch` through the client library (which retries ambiguous outcomes with the same
    client_order_id); `submit_one(client_order_id)` replaces that (say, a session's call)."""

    def __init__(
        self,
        client: CoordinatorClient,
        epoch: int,
        prefix: str,
        submit_one: Callable[[str], Any] | None = None,
    ) -> None:
        self.client = CoordinatorClient(client.addresses, retry=RetryPolicy(budget_ms=3000))
        self.epoch, self.prefix = epoch, prefix
        self.submit_one = submit_one or (lambda cid: submit(self.client, self.epoch, cid))
        self.acked: set[str] = set()
        self.failures: list[str] = []
        self.longest_gap_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def committed(self) -> int:
        return len(self.acked)

    def _run(self) -> None:
        last = time.monotonic()
        for i in range(1_000_000):
            if self._stop.is_set():
                return
            cid = f"{self.prefix}-{i}"
            try:
                self.submit_one(cid)
            except Unavailable as exc:
                self.failures.append(f"{cid}: {exc}")
                continue
            self.acked.add(cid)
            now = time.monotonic()
            self.longest_gap_s, last = max(self.longest_gap_s, now - last), now

    @contextmanager
    def running(self) -> Iterator[Writer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(30)
            self.client.close()

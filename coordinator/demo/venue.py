"""A simulated trading venue for the demo and the end-to-end tests: it records every order it
receives by client_order_id (so a duplicate is counted, never hidden), acknowledges with a
venue order id, and fills some orders at once.

Protocol: JSON lines over TCP on 127.0.0.1.
  {"op": "new", "cid", "engine", "epoch", "side", "quantity", "price"}
      -> {"op": "ack", "cid", "venue_order_id", "fills": [{"fill_id", "quantity", "price"}],
          "duplicate"}
  {"op": "query", "cid"}
      -> {"op": "status", "cid", "known", "venue_order_id", "fills": [...]}
"""

from __future__ import annotations

import json
import random
import socket
import socketserver
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class VenueOrder:
    cid: str
    venue_order_id: str
    engine: str
    epoch: int
    received_at: float
    fills: list[dict[str, str]] = field(default_factory=list)


class Venue:
    def __init__(self, fill_probability: float = 0.5, seed: int = 7) -> None:
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self.fill_probability = fill_probability
        self.orders: dict[str, VenueOrder] = {}
        self.received = Counter[str]()  # cid -> how many times it arrived
        self.arrivals: list[tuple[float, str, str, int]] = []  # (time, cid, engine, epoch)
        venue = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                for line in self.rfile:
                    try:
                        reply = venue.handle(json.loads(line))
                    except (ValueError, KeyError) as exc:
                        reply = {"op": "error", "error": str(exc)}
                    self.wfile.write(json.dumps(reply).encode() + b"\n")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="venue", daemon=True
        )

    def start(self) -> Venue:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op, cid = request["op"], str(request["cid"])
        with self._lock:
            if op == "new":
                self.received[cid] += 1
                self.arrivals.append(
                    (time.time(), cid, str(request.get("engine", "")), int(request.get("epoch", 0)))
                )
                order = self.orders.get(cid)
                duplicate = order is not None
                if order is None:
                    order = self.orders[cid] = VenueOrder(
                        cid,
                        f"V{len(self.orders) + 1:06d}",
                        str(request.get("engine", "")),
                        int(request.get("epoch", 0)),
                        time.time(),
                    )
                    if self._random.random() < self.fill_probability:
                        order.fills.append(
                            {
                                "fill_id": f"F-{order.venue_order_id}",
                                "quantity": request["quantity"],
                                "price": request["price"],
                            }
                        )
                return {
                    "op": "ack",
                    "cid": cid,
                    "venue_order_id": order.venue_order_id,
                    "fills": order.fills,
                    "duplicate": duplicate,
                }
            if op == "query":
                order = self.orders.get(cid)
                return {
                    "op": "status",
                    "cid": cid,
                    "known": order is not None,
                    "venue_order_id": order.venue_order_id if order else "",
                    "fills": order.fills if order else [],
                }
        raise ValueError(f"unknown op {op!r}")

    @property
    def duplicates(self) -> dict[str, int]:
        with self._lock:
            return {cid: n for cid, n in self.received.items() if n > 1}

    def snapshot(self) -> tuple[int, int, list[tuple[float, str, str, int]]]:
        """(distinct orders, messages received, arrivals)."""
        with self._lock:
            return len(self.orders), sum(self.received.values()), list(self.arrivals)


class VenueConnection:
    """An engine's connection to the venue (reconnects on failure). Thread-safe: one request
    and its reply at a time, so two threads never interleave on the socket."""

    def __init__(self, address: str, timeout_s: float = 2.0) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._socket: socket.socket | None = None
        self._reader: Any = None
        self._lock = threading.Lock()

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._request(message)

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        for attempt in range(3):
            try:
                if self._socket is None:
                    host, port = self.address.rsplit(":", 1)
                    self._socket = socket.create_connection(
                        (host, int(port)), timeout=self.timeout_s
                    )
                    self._reader = self._socket.makefile("rb")
                self._socket.sendall(json.dumps(message).encode() + b"\n")
                line = self._reader.readline()
                if not line:
                    raise ConnectionError("venue closed the connection")
                reply: dict[str, Any] = json.loads(line)
                return reply
            except (OSError, ValueError):
                self.close()
                if attempt == 2 or message["op"] == "new":
                    # a new order is never re-sent blindly: the engine reconciles by query instead
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
        self._socket = None

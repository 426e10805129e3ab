"""The four fenced order writes, each once: its RPC name, its request -> command conversion and
its result -> response rendering. The unary handlers (services.py) and OrderStream
(order_stream.py) both read this table, so a command answers the same on either path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from coordinator.core.commands import Command
from coordinator.core.results import FillResult, OrderResult
from coordinator.v1 import engine_pb2
from coordinator.wire import commands, records


@dataclass(frozen=True, slots=True)
class OrderWrite:
    method: str  # the unary RPC of the Engine service, e.g. "SubmitOrder"
    to_command: Callable[[Any], Command]
    render: Callable[[Any], Any]  # the core's result -> the RPC's response message


def _order_response(response: Any) -> Callable[[OrderResult], Any]:
    def render(result: OrderResult) -> Any:
        return response(order=records.order_to_wire(result.order), duplicate=result.duplicate)

    return render


def _fill_response(result: FillResult) -> engine_pb2.ReportFillResponse:
    return engine_pb2.ReportFillResponse(
        order=records.order_to_wire(result.order),
        position=records.position_to_wire(result.position),
        duplicate=result.duplicate,
    )


_WRITES = (
    OrderWrite(
        "SubmitOrder", commands.submit_order, _order_response(engine_pb2.SubmitOrderResponse)
    ),
    OrderWrite(
        "UpdateOrder", commands.update_order, _order_response(engine_pb2.UpdateOrderResponse)
    ),
    OrderWrite(
        "CancelOrder", commands.cancel_order, _order_response(engine_pb2.CancelOrderResponse)
    ),
    OrderWrite("ReportFill", commands.report_fill, _fill_response),
)
# Keyed by the field of OrderStreamRequest's `command` oneof (and of OrderStreamResponse's
# `result`) that carries the write.
ORDER_WRITES: dict[str, OrderWrite] = {commands.ORDER_STREAM_FIELD[w.method]: w for w in _WRITES}
BY_METHOD: dict[str, OrderWrite] = {w.method: w for w in _WRITES}

"""Aborting a gRPC call with a reason: the server's side of `coordinator.wire.status`."""

from __future__ import annotations

from typing import NoReturn

import grpc

from coordinator.core.refusals import Operating, Reason
from coordinator.wire.status import rich_status


def abort(
    context: grpc.ServicerContext,
    reason: Reason | Operating,
    message: str,
    field: str = "",
    metadata: dict[str, str] | None = None,
) -> NoReturn:
    context.abort_with_status(rich_status(reason, message, field, metadata))
    # grpc raises; this satisfies the type checker
    raise AssertionError("abort_with_status returned")

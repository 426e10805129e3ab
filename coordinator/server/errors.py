"""Refusals and operating errors as gRPC statuses: the one mapping table.

Every refusal leaves the server as a gRPC status whose details carry a `google.rpc.ErrorInfo`
(domain "coordinator.v1", `reason` = the refusal's name, e.g. STALE_EPOCH), plus a
`google.rpc.BadRequest` field violation naming the field when there is one. Clients branch on
`reason`; the status code only says what kind of failure it is.
"""

from __future__ import annotations

from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from coordinator.core.refusals import Reason

DOMAIN = "coordinator.v1"
# Reasons produced outside the core: by replication and the server.
NO_QUORUM = "NO_QUORUM"            # not applied: no Raft leader could take it; retry
OUTCOME_UNKNOWN = "OUTCOME_UNKNOWN"  # maybe applied: retry with the same idempotency key
OVERLOADED = "OVERLOADED"          # not applied: the proposal queue is full; back off and retry
MEMBERSHIP_REFUSED = "MEMBERSHIP_REFUSED"  # a membership change is unsafe or another is in flight

STATUS_OF_REASON: dict[str, grpc.StatusCode] = {
    Reason.STALE_EPOCH: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.NOT_HOLDER: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.RISK_LIMIT: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.HALTED: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.ILLEGAL_TRANSITION: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.OVERFILL: grpc.StatusCode.FAILED_PRECONDITION,
    Reason.UNKNOWN_ORDER: grpc.StatusCode.NOT_FOUND,
    Reason.INVALID_COMMAND: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.IDEMPOTENCY_CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    NO_QUORUM: grpc.StatusCode.UNAVAILABLE,
    OUTCOME_UNKNOWN: grpc.StatusCode.UNAVAILABLE,
    OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    MEMBERSHIP_REFUSED: grpc.StatusCode.FAILED_PRECONDITION,
}
_CODE_NUMBER = {code: getattr(code_pb2, code.name) for code in set(STATUS_OF_REASON.values())}


def rich_status(reason: str, message: str, field: str = "", metadata: dict[str, str] | None = None) -> grpc.Status:
    """The gRPC status for a refusal `reason` (a Reason value or one of the names above)."""
    code = STATUS_OF_REASON[reason]
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=str(reason), domain=DOMAIN, metadata=metadata or {}))
    details = [info]
    if field:
        violation = any_pb2.Any()
        violation.Pack(error_details_pb2.BadRequest(
            field_violations=[error_details_pb2.BadRequest.FieldViolation(field=field, description=message)]))
        details.append(violation)
    return rpc_status.to_status(status_pb2.Status(code=_CODE_NUMBER[code], message=message, details=details))


def abort(context: grpc.ServicerContext, reason: str, message: str, field: str = "",
          metadata: dict[str, str] | None = None) -> NoReturn:
    context.abort_with_status(rich_status(reason, message, field, metadata))
    raise AssertionError("abort_with_status returned")  # grpc raises; this only satisfies the type checker


def reason_of(error: grpc.RpcError) -> tuple[str, str]:
    """(ErrorInfo.reason, field) of a status received from a peer or server; ("", "") if none."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is None:
        return "", ""
    reason, field = "", ""
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason = info.reason
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            if bad.field_violations:
                field = bad.field_violations[0].field
    return reason, field

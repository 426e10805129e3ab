"""Reasons as gRPC statuses and back: the one table from reason to status code.

Every refusal leaves the server as a gRPC status whose details carry a `google.rpc.ErrorInfo`
(domain "coordinator.v1", `reason` = the reason's name, e.g. STALE_EPOCH), plus a
`google.rpc.BadRequest` field violation naming the field when there is one. Clients branch on
`reason`; the status code only says what kind of failure it is.
"""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from coordinator.core.refusals import Operating, Reason

DOMAIN = "coordinator.v1"
_REFUSED = grpc.StatusCode.FAILED_PRECONDITION
STATUS_OF_REASON: dict[str, grpc.StatusCode] = {
    Reason.STALE_EPOCH: _REFUSED,
    Reason.NOT_HOLDER: _REFUSED,
    Reason.RISK_LIMIT: _REFUSED,
    Reason.HALTED: _REFUSED,
    Reason.ILLEGAL_TRANSITION: _REFUSED,
    Reason.OVERFILL: _REFUSED,
    Reason.UNKNOWN_ORDER: grpc.StatusCode.NOT_FOUND,
    Reason.INVALID_COMMAND: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.IDEMPOTENCY_CONFLICT: grpc.StatusCode.ALREADY_EXISTS,
    Operating.NO_QUORUM: grpc.StatusCode.UNAVAILABLE,
    Operating.OUTCOME_UNKNOWN: grpc.StatusCode.UNAVAILABLE,
    Operating.OVERLOADED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Operating.MEMBERSHIP_REFUSED: _REFUSED,
}
_CODE_NUMBER = {code: getattr(code_pb2, code.name) for code in set(STATUS_OF_REASON.values())}
# google.rpc.Status.code (a number) -> the gRPC status code's name, e.g. 9 -> FAILED_PRECONDITION
CODE_NAME = {code.value[0]: code.name for code in grpc.StatusCode}


def status_message(
    reason: Reason | Operating,
    message: str,
    field: str = "",
    metadata: dict[str, str] | None = None,
) -> status_pb2.Status:
    """The `google.rpc.Status` for `reason`, with ErrorInfo (and BadRequest when `field` is
    named): what a unary call ends with, and what OrderStream answers a refused command with."""
    info = any_pb2.Any()
    info.Pack(
        error_details_pb2.ErrorInfo(reason=str(reason), domain=DOMAIN, metadata=metadata or {})
    )
    details = [info]
    if field:
        violation = any_pb2.Any()
        violation.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(field=field, description=message)
                ]
            )
        )
        details.append(violation)
    code = _CODE_NUMBER[STATUS_OF_REASON[reason]]
    return status_pb2.Status(code=code, message=message, details=details)


def rich_status(
    reason: Reason | Operating,
    message: str,
    field: str = "",
    metadata: dict[str, str] | None = None,
) -> grpc.Status:
    """`status_message` as the status a gRPC call is aborted with."""
    return rpc_status.to_status(status_message(reason, message, field, metadata))


def reason_in(status: status_pb2.Status) -> tuple[str, str]:
    """(ErrorInfo.reason, field) carried in a `google.rpc.Status`; ("", "") if none."""
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


def reason_of(error: grpc.RpcError) -> tuple[str, str]:
    """(ErrorInfo.reason, field) of a status received from a peer or server; ("", "") if none."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return ("", "") if status is None else reason_in(status)

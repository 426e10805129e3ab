"""The gRPC services, `coordinator.v1.Engine` and `coordinator.v1.Admin`.

Each handler names its conversions and hands them to the pipeline (parse and validate,
propose or forward, render or map the refusal). No trading rule is decided here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc

from coordinator.core.commands import RequestHandoff
from coordinator.core.model import Leadership
from coordinator.core.refusals import InvalidCommand, Operating, Reason
from coordinator.core.results import Ack, CampaignResult, LeaseResult
from coordinator.core.validation import check_id
from coordinator.replication.membership import refuse_add, refuse_remove
from coordinator.replication.raft import (
    MemberAddress,
    MembershipRefused,
    ProposalError,
    RaftStatus,
)
from coordinator.server.audit import audit_entries
from coordinator.server.errors import abort
from coordinator.server.order_stream import OrderStreams
from coordinator.server.order_writes import BY_METHOD
from coordinator.server.pipeline import Pipeline
from coordinator.v1 import admin_pb2, admin_pb2_grpc, engine_pb2, engine_pb2_grpc
from coordinator.wire import commands, records

AUDIT_BATCH = 500


def campaign_response(result: CampaignResult) -> engine_pb2.CampaignResponse:
    return engine_pb2.CampaignResponse(
        granted=result.granted,
        epoch=result.epoch,
        holder_id=result.holder_id,
        ttl_ms=result.ttl_ms,
        open_orders=[records.order_to_wire(o) for o in result.open_orders],
        positions=[records.position_to_wire(p) for p in result.positions],
        duplicate=result.duplicate,
    )


class EngineService(engine_pb2_grpc.EngineServicer):
    def __init__(self, pipeline: Pipeline, node_id: str, stopping: threading.Event) -> None:
        self._p = pipeline
        self._node_id = node_id
        self._stopping = stopping
        self._streams = OrderStreams(pipeline, stopping)

    def Campaign(self, request: engine_pb2.CampaignRequest, context: grpc.ServicerContext) -> Any:
        return self._p.write(
            context, "Engine/Campaign", request, commands.campaign, campaign_response
        )

    def KeepAlive(self, request: engine_pb2.KeepAliveRequest, context: grpc.ServicerContext) -> Any:
        def render(r: LeaseResult) -> engine_pb2.KeepAliveResponse:
            return engine_pb2.KeepAliveResponse(
                epoch=r.epoch, ttl_ms=r.ttl_ms, handoff_to=r.handoff_to
            )

        return self._p.write(context, "Engine/KeepAlive", request, commands.keep_alive, render)

    def Resign(self, request: engine_pb2.ResignRequest, context: grpc.ServicerContext) -> Any:
        def render(r: Ack) -> engine_pb2.ResignResponse:
            return engine_pb2.ResignResponse(epoch=r.epoch, duplicate=r.duplicate)

        return self._p.write(context, "Engine/Resign", request, commands.resign, render)

    def SubmitOrder(
        self, request: engine_pb2.SubmitOrderRequest, context: grpc.ServicerContext
    ) -> Any:
        return self._order_write(context, "SubmitOrder", request)

    def UpdateOrder(
        self, request: engine_pb2.UpdateOrderRequest, context: grpc.ServicerContext
    ) -> Any:
        return self._order_write(context, "UpdateOrder", request)

    def CancelOrder(
        self, request: engine_pb2.CancelOrderRequest, context: grpc.ServicerContext
    ) -> Any:
        return self._order_write(context, "CancelOrder", request)

    def ReportFill(
        self, request: engine_pb2.ReportFillRequest, context: grpc.ServicerContext
    ) -> Any:
        return self._order_write(context, "ReportFill", request)

    def _order_write(self, context: grpc.ServicerContext, method: str, request: Any) -> Any:
        write = BY_METHOD[method]
        return self._p.write(context, f"Engine/{method}", request, write.to_command, write.render)

    def OrderStream(
        self, request_iterator: Iterator[Any], context: grpc.ServicerContext
    ) -> Iterator[engine_pb2.OrderStreamResponse]:
        return self._streams.serve(request_iterator, context)

    def GetOrder(self, request: engine_pb2.GetOrderRequest, context: grpc.ServicerContext) -> Any:
        try:
            check_id("client_order_id", request.client_order_id)
        except InvalidCommand as exc:
            abort(context, Reason.INVALID_COMMAND, exc.message, exc.field)

        def render(found: Any) -> engine_pb2.GetOrderResponse:
            order, fills = found
            if order is None:
                abort(
                    context,
                    Reason.UNKNOWN_ORDER,
                    f"no order with client_order_id {request.client_order_id!r}",
                    "client_order_id",
                )
            return engine_pb2.GetOrderResponse(
                order=records.order_to_wire(order), fills=map(records.fill_to_wire, fills)
            )

        return self._p.read(
            context,
            "Engine/GetOrder",
            request,
            request.consistency,
            lambda s: (s.order(request.client_order_id), s.fills_of(request.client_order_id)),
            render,
        )

    def Observe(
        self, request: engine_pb2.ObserveRequest, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        """Leadership as this node has applied it: the current state first, then every change."""
        seen = -1
        while context.is_active() and not self._stopping.is_set():
            version, leadership, applied = self._p.state.wait_leadership_change(seen, timeout_s=0.5)
            if version != seen:
                seen = version
                yield observe_response(leadership, self._node_id, applied)


def observe_response(
    leadership: Leadership, node_id: str, applied_index: int
) -> engine_pb2.ObserveResponse:
    holder, release = leadership.holder, leadership.last_release
    changed_at = holder.granted_at_ns if holder else (release.released_at_ns if release else 0)
    return engine_pb2.ObserveResponse(
        epoch=leadership.epoch,
        holder_id=holder.engine_id if holder else "",
        ttl_ms=holder.ttl_ms if holder else 0,
        node_id=node_id,
        applied_index=applied_index,
        handoff_to=leadership.handoff_to,
        changed_at_ns=changed_at,
    )


class AdminService(admin_pb2_grpc.AdminServicer):
    def __init__(self, pipeline: Pipeline, node_id: str, started_at: float) -> None:
        self._p = pipeline
        self._node_id = node_id
        self._started_at = started_at

    def Status(self, request: admin_pb2.StatusRequest, context: grpc.ServicerContext) -> Any:
        raft = self._p.raft.status()
        _state_index, digest = self._p.state.digest()
        leadership, halted, reason = self._p.state.read(
            lambda s: (s.leadership(), s.halted, s.halt_reason)
        )
        holder = leadership.holder
        remaining = self._p.state.lease_remaining_ms() if holder is not None else None
        return admin_pb2.StatusResponse(
            node_id=self._node_id,
            role=admin_pb2.Role.Value(raft.role),
            term=raft.term,
            commit_index=raft.commit_index,
            applied_index=raft.applied_index,
            leader_id=raft.leader_id,
            digest=digest,
            epoch=leadership.epoch,
            holder_id=holder.engine_id if holder else "",
            members=members(raft),
            halted=halted,
            halt_reason=reason,
            lease_remaining_ms=-1 if remaining is None else remaining,
            ttl_ms=holder.ttl_ms if holder else 0,
            last_log_index=raft.last_log_index,
            first_log_index=raft.first_log_index,
            acked_entries_truncated=raft.acked_entries_truncated,
            leader_grpc_address=raft.leader_grpc_address,
            handoff_to=leadership.handoff_to,
            uptime_s=int(time.monotonic() - self._started_at),
            raft_address=self._p.raft.identity.raft_address,
            has_quorum=self._p.raft.has_quorum(),
            cluster_id=self._p.raft.cluster_id,
        )

    def ListOrders(
        self, request: admin_pb2.ListOrdersRequest, context: grpc.ServicerContext
    ) -> Any:
        def render(orders: list[Any]) -> admin_pb2.ListOrdersResponse:
            return admin_pb2.ListOrdersResponse(orders=[records.order_to_wire(o) for o in orders])

        return self._p.read(
            context,
            "Admin/ListOrders",
            request,
            request.consistency,
            lambda s: s.orders(
                open_only=request.open_only, account=request.account, instrument=request.instrument
            ),
            render,
        )

    def ListPositions(
        self, request: admin_pb2.ListPositionsRequest, context: grpc.ServicerContext
    ) -> Any:
        def render(positions: list[Any]) -> admin_pb2.ListPositionsResponse:
            return admin_pb2.ListPositionsResponse(
                positions=[records.position_to_wire(p) for p in positions]
            )

        return self._p.read(
            context,
            "Admin/ListPositions",
            request,
            request.consistency,
            lambda s: s.positions(account=request.account, instrument=request.instrument),
            render,
        )

    def Halt(self, request: admin_pb2.HaltRequest, context: grpc.ServicerContext) -> Any:
        return self._p.write(
            context,
            "Admin/Halt",
            request,
            commands.halt,
            lambda r: admin_pb2.HaltResponse(duplicate=r.duplicate),
        )

    def Resume(self, request: admin_pb2.ResumeRequest, context: grpc.ServicerContext) -> Any:
        return self._p.write(
            context,
            "Admin/Resume",
            request,
            commands.resume,
            lambda r: admin_pb2.ResumeResponse(duplicate=r.duplicate),
        )

    def SetRiskLimits(
        self, request: admin_pb2.SetRiskLimitsRequest, context: grpc.ServicerContext
    ) -> Any:
        def render(_r: Ack) -> admin_pb2.SetRiskLimitsResponse:
            limits = self._p.state.read(lambda s: s.risk_limits())
            return admin_pb2.SetRiskLimitsResponse(
                limits=[records.scoped_limits_to_wire(s) for s in limits]
            )

        return self._p.write(
            context, "Admin/SetRiskLimits", request, commands.set_risk_limits, render
        )

    def ListMembers(
        self, request: admin_pb2.ListMembersRequest, context: grpc.ServicerContext
    ) -> Any:
        raft = self._p.raft.status()
        return admin_pb2.ListMembersResponse(members=members(raft), leader_id=raft.leader_id)

    def AddMember(self, request: admin_pb2.AddMemberRequest, context: grpc.ServicerContext) -> Any:
        for field in ("node_id", "raft_address", "grpc_address"):
            try:
                check_id(field, getattr(request, field))
            except InvalidCommand as exc:
                abort(context, Reason.INVALID_COMMAND, exc.message, exc.field)
        if not self._p.raft.is_leader():
            return self._p.forward(context, "Admin/AddMember", request)
        current = self._p.raft.status().members
        if any(
            m.node_id == request.node_id or m.raft_address == request.raft_address for m in current
        ):
            abort(
                context,
                Operating.MEMBERSHIP_REFUSED,
                f"{request.node_id} ({request.raft_address}) is already a member",
            )
        refusal = refuse_add(self._p.raft.reachability(), request.node_id)
        if refusal is not None:
            abort(context, Operating.MEMBERSHIP_REFUSED, refusal)
        self._change(
            context,
            "add",
            MemberAddress(request.raft_address, request.node_id, request.grpc_address),
        )
        return admin_pb2.AddMemberResponse(members=members(self._p.raft.status()))

    def RemoveMember(
        self, request: admin_pb2.RemoveMemberRequest, context: grpc.ServicerContext
    ) -> Any:
        if not self._p.raft.is_leader():
            return self._p.forward(context, "Admin/RemoveMember", request)
        target = next(
            (m for m in self._p.raft.status().members if m.node_id == request.node_id), None
        )
        if target is None:
            abort(
                context, Reason.INVALID_COMMAND, f"{request.node_id!r} is not a member", "node_id"
            )
        if target.is_self:
            abort(
                context,
                Operating.MEMBERSHIP_REFUSED,
                f"{request.node_id} is the Raft leader; transfer leadership first (coordinator "
                "members remove does this for you)",
            )
        refusal = refuse_remove(self._p.raft.reachability(), request.node_id, target.connected)
        if refusal is not None:
            abort(context, Operating.MEMBERSHIP_REFUSED, refusal)
        self._change(
            context,
            "remove",
            MemberAddress(target.raft_address, target.node_id, target.grpc_address),
        )
        return admin_pb2.RemoveMemberResponse(members=members(self._p.raft.status()))

    def GetRiskLimits(
        self, request: admin_pb2.GetRiskLimitsRequest, context: grpc.ServicerContext
    ) -> Any:
        def render(limits: list[Any]) -> admin_pb2.GetRiskLimitsResponse:
            return admin_pb2.GetRiskLimitsResponse(
                limits=[records.scoped_limits_to_wire(s) for s in limits]
            )

        return self._p.read(
            context,
            "Admin/GetRiskLimits",
            request,
            request.consistency,
            lambda s: s.risk_limits(),
            render,
        )

    def RequestHandoff(
        self, request: admin_pb2.RequestHandoffRequest, context: grpc.ServicerContext
    ) -> Any:
        def render(r: Ack) -> admin_pb2.RequestHandoffResponse:
            holder = self._p.state.read(lambda s: s.leadership().holder)
            return admin_pb2.RequestHandoffResponse(
                epoch=r.epoch, holder_id=holder.engine_id if holder else "", duplicate=r.duplicate
            )

        return self._p.write(
            context,
            "Admin/RequestHandoff",
            request,
            lambda r: RequestHandoff(r.to_engine_id),
            render,
        )

    def TransferLeadership(
        self, request: admin_pb2.TransferLeadershipRequest, context: grpc.ServicerContext
    ) -> Any:
        if not self._p.raft.is_leader():
            return self._p.forward(context, "Admin/TransferLeadership", request)
        try:
            leader = self._p.raft.transfer_leadership(
                request.to_node_id or None, timeout_s=min(10.0, self._p.commit_timeout_s * 2)
            )
        except ValueError as exc:
            abort(context, Reason.INVALID_COMMAND, str(exc), "to_node_id")
        except MembershipRefused as exc:
            abort(
                context,
                Operating.MEMBERSHIP_REFUSED,
                f"{exc}: is the target connected and caught up?",
            )
        return admin_pb2.TransferLeadershipResponse(leader_id=leader)

    def ExportAudit(
        self, request: admin_pb2.ExportAuditRequest, context: grpc.ServicerContext
    ) -> Iterator[Any]:
        batch: list[admin_pb2.AuditEntry] = []
        journal = self._p.raft.journal
        for entry in audit_entries(
            journal.archived_entries(request.from_index), journal.outcome_at
        ):
            batch.append(entry)
            if len(batch) >= AUDIT_BATCH:
                yield admin_pb2.ExportAuditResponse(entries=batch)
                batch = []
            if not context.is_active():
                return
        if batch:
            yield admin_pb2.ExportAuditResponse(entries=batch)

    def _change(self, context: grpc.ServicerContext, action: str, node: MemberAddress) -> None:
        try:
            self._p.raft.change_membership(action, node, self._p.commit_timeout_s)
        except MembershipRefused as exc:
            abort(
                context,
                exc.reason,
                f"{exc} (one membership change at a time; retry once it commits)",
            )
        except ProposalError as exc:
            abort(context, exc.reason, str(exc))


def members(raft: RaftStatus) -> list[admin_pb2.Member]:
    return [
        admin_pb2.Member(
            node_id=m.node_id,
            raft_address=m.raft_address,
            grpc_address=m.grpc_address,
            voter=True,
            is_self=m.is_self,
            connected=m.connected,
            match_index=m.match_index,
        )
        for m in raft.members
    ]

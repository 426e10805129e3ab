"""One coordinator node process: data directory, Raft log, Raft node, lease timer, gRPC server.

Start-up refuses, with a message naming the problem, a data directory it must not use
(datadir.py). SIGTERM stops the node gracefully: health NOT_SERVING, gRPC drained, the log
synced and closed.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
import time
from concurrent import futures
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from coordinator.config import NodeConfig
from coordinator.metrics import NodeMetrics
from coordinator.replication.instruments import Failpoints
from coordinator.replication.journal import DataDirError, RocksJournal
from coordinator.replication.leases import LeaseKeeper
from coordinator.replication.raft import MemberAddress, RaftNode
from coordinator.replication.state import ReplicatedState
from coordinator.server import datadir
from coordinator.server.order_stream import ORDER_STREAMS_MAX
from coordinator.server.pipeline import Pipeline
from coordinator.server.services import AdminService, EngineService
from coordinator.v1 import admin_pb2, admin_pb2_grpc, engine_pb2, engine_pb2_grpc
from coordinator.wire.channel import CHANNEL_OPTIONS

log = logging.getLogger(__name__)
SERVICES = ("coordinator.v1.Engine", "coordinator.v1.Admin")


class StartupError(RuntimeError):
    """The node cannot start; the message says why."""


def check_port_free(address: str, what: str) -> None:
    host, port = address.rsplit(":", 1)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, int(port)))
    except OSError as exc:
        raise StartupError(f"{what} {address} cannot be bound: {exc.strerror}") from exc


class CoordinatorNode:
    """Must be started from the process's main thread (pysyncobj ticks while it lives).

    A node configured with `join = true` starts as a learner (a pysyncobj read-only node: it
    catches up on the log and votes on nothing). When a committed membership change names it,
    `serve_forever` promotes it: the learner's Raft node is stopped and a voter is started on
    the same log, in the same process, without dropping the gRPC server.
    """

    def __init__(
        self, config: NodeConfig, *, log_guards: bool = True, bootstrap: bool = False
    ) -> None:
        self.config = config
        self._log_guards = log_guards
        self._bootstrap = bootstrap
        self.cluster_id = ""
        self.stopping = threading.Event()
        self.started_at = time.monotonic()
        self.raft: RaftNode | None = None
        self.metrics = NodeMetrics(config.node_id)
        self._keeper: LeaseKeeper | None = None
        self._server: grpc.Server | None = None
        self._health: health.HealthServicer | None = None
        self._pipeline: Pipeline | None = None
        self._failpoints = Failpoints.from_env(config.node_id)

    def start(self) -> None:
        c = self.config
        datadir.prepare(c.data_dir, c.node_id, bootstrap=self._bootstrap, join=c.join)
        learner = c.join and not datadir.is_voter(c.data_dir)
        if not learner:
            check_port_free(c.raft_bind, "node.raft_address")
        self.cluster_id = self._join_cluster(learner)
        self.raft = self._start_raft(
            learner, [MemberAddress(p.raft_address, p.id, p.grpc_address) for p in c.peers]
        )
        if not learner:
            datadir.mark_voter(c.data_dir, c.node_id)
        self.metrics.attach(lambda: self.raft)
        if c.metrics_address:
            try:
                self.metrics.serve(c.metrics_address)
            except OSError as exc:
                self.stop()
                raise StartupError(
                    f"node.metrics_address {c.metrics_address} cannot be bound: {exc.strerror}"
                ) from exc
        self._pipeline = Pipeline(
            self.raft,
            c.node_id,
            c.commit_timeout_s,
            lambda outcome, s: self.metrics.proposals.labels(outcome).observe(s),
            dial=c.dial,
        )
        self._server = grpc.server(
            futures.ThreadPoolExecutor(
                max_workers=64 + ORDER_STREAMS_MAX, thread_name_prefix="grpc"
            ),
            # grpcio sets SO_REUSEPORT by default: a second node on a taken port would share it
            # and split the engines between them. Bind exclusively, so start-up fails instead.
            options=[*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)],
        )
        engine = EngineService(self._pipeline, c.node_id, self.stopping)
        admin = AdminService(self._pipeline, c.node_id, self.started_at)
        engine_pb2_grpc.add_EngineServicer_to_server(engine, self._server)  # type: ignore[no-untyped-call]
        admin_pb2_grpc.add_AdminServicer_to_server(admin, self._server)  # type: ignore[no-untyped-call]
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, self._server)
        reflection.enable_server_reflection(
            (
                engine_pb2.DESCRIPTOR.services_by_name["Engine"].full_name,
                admin_pb2.DESCRIPTOR.services_by_name["Admin"].full_name,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            self._server,
        )
        try:
            bound = self._server.add_insecure_port(c.grpc_listen)
        except RuntimeError:
            bound = 0
        if not bound:
            self.stop()
            raise StartupError(
                f"node.grpc_bind/grpc_address {c.grpc_listen} cannot be bound (in use, or not a "
                "local address)"
            )
        self._server.start()
        for name in ("", *SERVICES):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info(
            "node %s serving gRPC on %s, Raft on %s (advertised %s)%s, data in %s",
            c.node_id,
            c.grpc_listen,
            c.raft_bind,
            c.raft_advertise,
            " as a learner" if learner else "",
            c.data_dir,
        )

    def _join_cluster(self, learner: bool) -> str:
        """The cluster id: stored; else the founding one (a founding voter) or a peer's (a learner).

        A fresh learner also takes its floor from that peer now, before any `members add` can
        name it: a voter with its address in a change committed at or below the floor is a node
        that lost its data. (Taken from the first AppendEntries instead, an add that committed
        before that first contact looked like amnesia, and the node was never promoted.)"""
        c = self.config
        identity = datadir.read(c.data_dir)
        stored = identity.get("cluster_id")
        if (
            isinstance(stored, str)
            and stored
            and (not learner or identity.get("learner_floor") is not None)
        ):
            return stored
        if learner:
            peer = ask_peers([c.dial.get(p.grpc_address, p.grpc_address) for p in c.peers])
            cluster_id = str(stored or peer.cluster_id)
            if identity.get("learner_floor") is None:
                datadir.update(c.data_dir, learner_floor=int(peer.commit_index))
        else:
            cluster_id = datadir.founding_cluster_id(
                [(c.node_id, c.raft_advertise), *((p.id, p.raft_address) for p in c.peers)]
            )
        datadir.update(c.data_dir, cluster_id=cluster_id)
        log.info("cluster id %s", cluster_id)
        return cluster_id

    def _start_raft(self, learner: bool, peers: list[MemberAddress]) -> RaftNode:
        c = self.config
        journal = RocksJournal(
            c.data_dir / "raft",
            c.data_dir / "snapshot.bin",
            audit_retention=c.audit_retention_entries,
            on_sync=self.metrics.fsync_seconds.observe,
        )
        journal.failpoints = self._failpoints
        state = ReplicatedState()
        state.on_applied = self.metrics.on_applied
        raft = RaftNode(
            identity=MemberAddress(c.raft_advertise, c.node_id, c.grpc_address),
            peers=peers,
            settings=c.raft,
            cluster_secret=c.cluster_secret,
            bind_address=c.raft_bind,
            journal=journal,
            replicated=state,
            dial_table=c.dial,
            log_guards=self._log_guards,
            learner=learner,
            learner_floor=datadir.read(c.data_dir).get("learner_floor"),
            on_learner_floor=lambda floor: datadir.update(c.data_dir, learner_floor=floor),
            cluster_id=self.cluster_id,
            peer_wire=c.peer_wire,
        )
        self._keeper = LeaseKeeper(raft)
        self._keeper.start()
        return raft

    def maybe_promote(self) -> bool:
        """A learner named voter by a committed membership change becomes one (main thread)."""
        raft = self.raft
        if raft is None or not raft.learner or not raft.promotion_committed():
            return False
        peers = [m for m in raft.voters() if m.raft_address != self.config.raft_advertise]
        log.info(
            "membership change committed: promoting this learner to a voter with peers %s",
            [m.node_id for m in peers],
        )
        if self._keeper is not None:
            self._keeper.stop()
        raft.stop()
        self.raft = self._start_raft(False, peers)
        datadir.mark_voter(self.config.data_dir, self.config.node_id)
        if self._pipeline is not None:
            self._pipeline.rebind(self.raft)
        return True

    def stop(self, grace_s: float = 2.0) -> None:
        """Graceful stop; safe to call more than once."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        if self._health is not None:
            self._health.enter_graceful_shutdown()
        if self._server is not None:
            self._server.stop(grace_s).wait(grace_s + 1)
        if self._pipeline is not None:
            self._pipeline.close()
        if self._keeper is not None:
            self._keeper.stop()
        if self.raft is not None:
            self.raft.stop()  # the tick thread syncs and closes the journal
        self.metrics.stop()
        log.info("node %s stopped", self.config.node_id)

    def log_context(self) -> tuple[int, int]:
        """(term, epoch) for log lines."""
        raft = self.raft
        if raft is None:
            return (0, 0)
        return (raft.term(), raft.replicated.read(lambda s: s.leadership().epoch))

    def serve_forever(self) -> None:
        """Runs until SIGTERM or SIGINT, then stops gracefully."""
        done = threading.Event()

        def on_signal(signum: int, _frame: Any) -> None:
            log.info("received %s; stopping", signal.Signals(signum).name)
            done.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        while not done.wait(0.2):
            if self._failpoints is not None:
                self._failpoints.poll()
                if (stall := self._failpoints.take_stall()) and self.raft is not None:
                    at_ns, seconds = stall
                    delay_s = max(0.0, (at_ns - time.time_ns()) / 1e9)
                    threading.Timer(delay_s, self.raft.hold_tick, (seconds,)).start()
            self.maybe_promote()
        self.stop()


def ask_peers(peer_grpc_addresses: list[str], timeout_s: float = 10.0) -> admin_pb2.StatusResponse:
    """A joining learner asks its configured peers which cluster it is joining (the first Status
    that names one)."""
    deadline = time.monotonic() + timeout_s
    for _attempt in range(100):
        for address in peer_grpc_addresses:
            with grpc.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
                try:
                    status: admin_pb2.StatusResponse = admin_pb2_grpc.AdminStub(  # type: ignore[no-untyped-call]
                        channel
                    ).Status(admin_pb2.StatusRequest(), timeout=1.0)
                except grpc.RpcError:
                    continue
            if status.cluster_id:
                return status
        if time.monotonic() > deadline:
            break
        time.sleep(0.2)
    raise StartupError(
        f"cannot learn the cluster id: none of the peers {', '.join(peer_grpc_addresses)} answered "
        "Status; a learner joins through its [[peers]], which must be running"
    )


def run(
    config: NodeConfig, *, log_guards: bool = True, log_context: Any = None, bootstrap: bool = False
) -> bool:
    """`coordinator serve`: start, serve until signalled, stop. Returns whether the node started;
    False (the reason logged) for a data directory or a cluster it must not start on, which the
    command reports as a configuration error. `log_context` (from coordinator.logs.configure)
    gets the node's term and epoch."""
    sys.setswitchinterval(0.001)  # shorter GIL hand-offs: fsync and network threads wait less
    if os.environ.get("COORDINATOR_UNSAFE_DISABLE_LOG_GUARDS") == "1":
        log.warning(
            "UNSAFE: the log-matching guards are disabled (benchmarking pysyncobj's defect only)"
        )
        log_guards = False
    node = CoordinatorNode(config, log_guards=log_guards, bootstrap=bootstrap)
    if log_context is not None:
        log_context.context = node.log_context
    try:
        node.start()
    except (DataDirError, StartupError) as exc:
        log.error("cannot start: %s", exc)
        node.stop()
        return False
    node.serve_forever()
    return True

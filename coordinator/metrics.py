"""Prometheus metrics of one node (prometheus-client), served over HTTP on `metrics_address`.

Counters and histograms are updated where things happen (fsync, apply, outcomes); gauges and
the Raft node's own counters are read from the Raft node and the state machine when Prometheus
scrapes, so they cost nothing in between. Names are the contract of
deploy/grafana-dashboard.json and the alert rules in docs/operations.md.

Prometheus's conventions hold (tests/unit/test_metrics.py): a value that only grows while the
process lives is a counter, whose samples alone end in `_total` (prometheus_client appends it
to the family name); a gauge never ends in `_total`; times are in seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coordinator.core.results import Refused, Result
from coordinator.replication.roles import Role

if TYPE_CHECKING:
    from coordinator.replication.raft import RaftNode

FAST_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    1.0,
)


class NodeMetrics:
    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.registry = CollectorRegistry()
        self.fsync_seconds = Histogram(
            "coordinator_raft_fsync_seconds",
            "Raft log fsync (group commit) latency",
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self.apply_seconds = Histogram(
            "coordinator_apply_seconds",
            "State machine apply latency per command",
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self.commands = Counter(
            "coordinator_commands_total",
            "Commands applied, by type and outcome",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "coordinator_refusals_total",
            "Commands refused by the state machine, by reason",
            ["reason"],
            registry=self.registry,
        )
        self.proposals = Histogram(
            "coordinator_propose_seconds",
            "gRPC proposals from submission to apply",
            ["outcome"],
            buckets=FAST_BUCKETS,
            registry=self.registry,
        )
        self._raft: Callable[[], RaftNode | None] = lambda: None
        self.registry.register(_StateCollector(self))
        self._server: Any = None

    def attach(self, raft: Callable[[], RaftNode | None]) -> None:
        """Where the gauges read from (a getter: a learner's Raft node is replaced on promotion)."""
        self._raft = raft

    def on_applied(self, command_type: str, result: Result, seconds: float) -> None:
        if isinstance(result, Refused):
            outcome = str(result.reason)
            self.refusals.labels(outcome).inc()
        else:
            outcome = "duplicate" if getattr(result, "duplicate", False) else "accepted"
        self.commands.labels(command_type, outcome).inc()
        self.apply_seconds.observe(seconds)

    def serve(self, address: str) -> None:
        host, port = address.rsplit(":", 1)
        self._server, _thread = start_http_server(int(port), addr=host, registry=self.registry)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None


class _StateCollector(Collector):
    """Gauges read at scrape time."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        raft = self._metrics._raft()
        if raft is None:
            return
        status = raft.status()
        state = raft.replicated
        leadership, open_orders, halted = state.read(
            lambda s: (s.leadership(), s.open_order_count(), s.halted)
        )

        def gauge(
            name: str, doc: str, value: float, labels: dict[str, str] | None = None
        ) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=list(labels or {}))
            family.add_metric(list((labels or {}).values()), value)
            return family

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            """`name` without `_total`: the family appends it to its sample."""
            return CounterMetricFamily(name, doc, value=value)

        role = GaugeMetricFamily(
            "coordinator_raft_role", "1 for this node's Raft role", labels=["role"]
        )
        for each in Role:
            role.add_metric([each.label], 1.0 if status.role == each else 0.0)
        yield role
        yield gauge("coordinator_raft_term", "Current Raft term", status.term)
        yield gauge(
            "coordinator_raft_commit_index", "Highest committed log index", status.commit_index
        )
        yield gauge(
            "coordinator_raft_applied_index", "Highest applied log index", status.applied_index
        )
        yield gauge(
            "coordinator_raft_last_log_index",
            "Last index in this node's log",
            status.last_log_index,
        )
        yield gauge(
            "coordinator_raft_has_quorum",
            "1 if connected to a majority of voters",
            1.0 if raft.has_quorum() else 0.0,
        )
        counters = raft.counters()
        yield counter(
            "coordinator_raft_elections", "Elections this node started", counters.elections_started
        )
        yield counter(
            "coordinator_raft_leader_changes",
            "Times this node became or stopped being leader",
            counters.leader_changes,
        )
        yield counter(
            "coordinator_raft_acked_entries_truncated",
            "Acknowledged log entries this node truncated (must stay 0)",
            counters.acked_entries_truncated,
        )
        yield counter(
            "coordinator_raft_prevote_rounds",
            "Pre-vote rounds this node started",
            counters.prevote_rounds,
        )
        yield counter(
            "coordinator_raft_commits_held",
            "Commit-index advances refused because the message proved nothing about the log",
            counters.commits_held,
        )
        yield counter(
            "coordinator_raft_foreign_peers_refused",
            "Raft connections refused because the peer named another cluster (or none)",
            counters.foreign_peers_refused,
        )
        yield gauge(
            "coordinator_raft_members", "Voters in this node's configuration", len(status.members)
        )
        lag = GaugeMetricFamily(
            "coordinator_raft_follower_lag_entries",
            "Entries a follower is behind the leader (on the leader only)",
            labels=["peer"],
        )
        if status.role == Role.LEADER:
            for member in status.members:
                if not member.is_self:
                    lag.add_metric(
                        [member.node_id], max(0, status.last_log_index - member.match_index)
                    )
        yield lag
        yield gauge(
            "coordinator_epoch", "Last granted epoch of the execution role", leadership.epoch
        )
        yield gauge(
            "coordinator_engine_active",
            "1 while an engine holds the execution role",
            1.0 if leadership.holder else 0.0,
        )
        holder = GaugeMetricFamily(
            "coordinator_engine_holder",
            "1 for the engine holding the execution role",
            labels=["engine"],
        )
        if leadership.holder is not None:
            holder.add_metric([leadership.holder.engine_id], 1.0)
        yield holder
        remaining_ms = state.lease_remaining_ms()
        yield gauge(
            "coordinator_lease_remaining_seconds",
            "Lease left as the Raft leader times it (-1 elsewhere)",
            -1 if remaining_ms is None or leadership.holder is None else remaining_ms / 1000,
        )
        yield gauge("coordinator_open_orders", "Open (not terminal) orders", open_orders)
        yield gauge("coordinator_halted", "1 while the kill switch is on", 1.0 if halted else 0.0)
        yield gauge(
            "coordinator_scrape_timestamp_seconds", "When this scrape was produced", time.time()
        )

"""A node's metrics follow Prometheus's conventions (issue 14, item 10): a value that only
grows while the process lives is a counter, and only a counter's samples end in `_total`; a
gauge never does; times are in seconds, never `_ms`. The exposition is rendered the way
Prometheus scrapes it and read back with prometheus_client's own parser, so the test sees the
types Prometheus would see."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from coordinator.core.refusals import Reason
from coordinator.core.results import Ack, Refused
from coordinator.metrics import NodeMetrics
from coordinator.replication.envelope import encode
from coordinator.replication.roles import Role
from coordinator.replication.state import ReplicatedState
from coordinator.replication.syncobj_patch import MemberView, RaftCounters, RaftStatus
from tests.unit.builders import campaign

COUNTERS = RaftCounters(
    elections_started=3,
    leader_changes=2,
    prevote_rounds=4,
    own_stalls_discounted=0,
    acked_entries_truncated=0,
    commits_held=1,
    resets_lowered=0,
    foreign_peers_refused=5,
)


@dataclass
class LeaderDouble:
    """Tests only: the part of RaftNode the metrics read, as a leader of three with a granted
    lease it is timing."""

    replicated: ReplicatedState = field(default_factory=ReplicatedState)

    def status(self) -> RaftStatus:
        members = tuple(
            MemberView(node_id, f"127.0.0.1:{port}", "", node_id == "n1", True, match)
            for node_id, port, match in (("n1", 7001, 10), ("n2", 7002, 10), ("n3", 7003, 7))
        )
        return RaftStatus(Role.LEADER, 4, 10, 10, "n1", "", 1, 10, members, 0)

    def counters(self) -> RaftCounters:
        return COUNTERS

    def has_quorum(self) -> bool:
        return True


def scrape() -> dict[str, tuple[str, list[Sample]]]:
    """{family name: (type, samples)} as Prometheus reads this node's exposition."""
    raft = LeaderDouble()
    raft.replicated.apply(encode(campaign(ttl_ms=500), 1), 1)
    raft.replicated.arm_lease_timer()
    metrics = NodeMetrics("n1")
    metrics.attach(lambda: raft)  # type: ignore[arg-type, return-value]
    metrics.on_applied("KeepAlive", Ack(), 0.001)
    metrics.on_applied("SubmitOrder", Refused(Reason.STALE_EPOCH, "stale"), 0.001)
    text = generate_latest(metrics.registry).decode()
    return {f.name: (f.type, f.samples) for f in text_string_to_metric_families(text)}


def test_every_family_has_the_type_its_values_call_for() -> None:
    assert {name: kind for name, (kind, _) in scrape().items()} == {
        "coordinator_raft_fsync_seconds": "histogram",
        "coordinator_apply_seconds": "histogram",
        "coordinator_propose_seconds": "histogram",
        "coordinator_commands": "counter",
        "coordinator_refusals": "counter",
        "coordinator_raft_role": "gauge",
        "coordinator_raft_term": "gauge",
        "coordinator_raft_commit_index": "gauge",
        "coordinator_raft_applied_index": "gauge",
        "coordinator_raft_last_log_index": "gauge",
        "coordinator_raft_has_quorum": "gauge",
        "coordinator_raft_elections": "counter",
        "coordinator_raft_leader_changes": "counter",
        "coordinator_raft_acked_entries_truncated": "counter",
        "coordinator_raft_prevote_rounds": "counter",
        "coordinator_raft_commits_held": "counter",
        "coordinator_raft_foreign_peers_refused": "counter",
        "coordinator_raft_members": "gauge",
        "coordinator_raft_follower_lag_entries": "gauge",
        "coordinator_epoch": "gauge",
        "coordinator_engine_active": "gauge",
        "coordinator_engine_holder": "gauge",
        "coordinator_lease_remaining_seconds": "gauge",
        "coordinator_open_orders": "gauge",
        "coordinator_halted": "gauge",
        "coordinator_scrape_timestamp_seconds": "gauge",
        # prometheus_client's creation times of the counters and histograms it keeps itself,
        # which the text format exposes as gauges (the labelled histogram has no child yet)
        "coordinator_raft_fsync_seconds_created": "gauge",
        "coordinator_apply_seconds_created": "gauge",
        "coordinator_commands_created": "gauge",
        "coordinator_refusals_created": "gauge",
    }


def test_only_counter_samples_end_in_total_and_no_sample_is_in_milliseconds() -> None:
    for name, (kind, samples) in scrape().items():
        assert not (kind == "gauge" and name.endswith("_total")), name
        for sample in samples:
            assert not sample.name.endswith("_ms"), sample.name
            ends_in_total = sample.name.endswith("_total")
            assert ends_in_total == (kind == "counter" and sample.name == f"{name}_total"), (
                sample.name
            )


def test_the_raft_counters_are_exported_as_counted() -> None:
    values = {
        name: samples[0].value
        for name, (kind, samples) in scrape().items()
        if kind == "counter" and name.startswith("coordinator_raft_")
    }
    assert values == {
        "coordinator_raft_elections": 3.0,
        "coordinator_raft_leader_changes": 2.0,
        "coordinator_raft_acked_entries_truncated": 0.0,
        "coordinator_raft_prevote_rounds": 4.0,
        "coordinator_raft_commits_held": 1.0,
        "coordinator_raft_foreign_peers_refused": 5.0,
    }
    assert all(
        samples[0].name == f"{name}_total"
        for name, (kind, samples) in scrape().items()
        if kind == "counter"
    )


def test_the_lease_left_is_in_seconds() -> None:
    kind, samples = scrape()["coordinator_lease_remaining_seconds"]
    assert kind == "gauge" and len(samples) == 1
    assert 0 < samples[0].value <= 0.5  # a 500 ms lease just granted

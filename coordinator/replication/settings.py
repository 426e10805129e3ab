"""Raft timing and log-compaction settings of a node (the `[timing]` table of its config), and the
one home of their default numbers: the timing presets, the compaction threshold and the audit
retention. Every other module (config, the journal, the local cluster, chaos, the tests) takes
these numbers from here and never writes them again. This module imports nothing of the
coordinator, so that config and replication can both depend on it without a cycle."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# Timing presets (docs/operations.md explains the trade-off). LAN: a few ms of round trip, so
# elections in a few hundred ms. WAN: data centers 30-100 ms apart; etcd's rule of thumb is an
# election timeout of at least 10 round trips.
PRESETS: dict[str, dict[str, int]] = {
    "lan": {
        "heartbeat_ms": 50,
        "election_min_ms": 300,
        "election_max_ms": 600,
        "connection_timeout_ms": 1500,
        "connection_retry_ms": 250,
        "ping_interval_ms": 250,
        "commit_timeout_ms": 5000,
    },
    "wan": {
        "heartbeat_ms": 100,
        "election_min_ms": 1000,
        "election_max_ms": 2000,
        "connection_timeout_ms": 5000,
        "connection_retry_ms": 1000,
        "ping_interval_ms": 500,
        "commit_timeout_ms": 10000,
    },
}
DEFAULT_PRESET = "lan"
# Compaction and audit retention do not depend on the network, so they are not part of a preset.
# the live log is compacted into a snapshot past this many entries
COMPACTION_MIN_ENTRIES = 10_000
AUDIT_RETENTION_ENTRIES = 100_000  # compacted entries kept for the audit log behind the live log


def _default_s(key: str) -> float:
    """A timing number of the default preset, in seconds."""
    return PRESETS[DEFAULT_PRESET][key] / 1000


@dataclass(frozen=True, slots=True)
class RaftSettings:
    """Raft timing. `heartbeat_s` is pysyncobj's appendEntriesPeriod; elections start after a
    random timeout in [election_min_s, election_max_s]; a leader that hears from no majority
    for `election_min_s` steps down. The defaults are the default preset's."""

    heartbeat_s: float = _default_s("heartbeat_ms")
    election_min_s: float = _default_s("election_min_ms")
    election_max_s: float = _default_s("election_max_ms")
    connection_timeout_s: float = _default_s("connection_timeout_ms")
    connection_retry_s: float = _default_s("connection_retry_ms")
    ping_interval_s: float = _default_s("ping_interval_ms")
    compaction_min_entries: int = COMPACTION_MIN_ENTRIES
    compaction_min_time_s: float = 3600.0
    queue_size: int = 20_000

    @classmethod
    def from_timing(
        cls, timing_ms: Mapping[str, int], compaction_min_entries: int = COMPACTION_MIN_ENTRIES
    ) -> RaftSettings:
        """The settings of a `[timing]` table in milliseconds: every key of a preset must be present
        (extra keys such as commit_timeout_ms are not Raft's and are ignored). Not validated."""
        return cls(
            heartbeat_s=timing_ms["heartbeat_ms"] / 1000,
            election_min_s=timing_ms["election_min_ms"] / 1000,
            election_max_s=timing_ms["election_max_ms"] / 1000,
            connection_timeout_s=timing_ms["connection_timeout_ms"] / 1000,
            connection_retry_s=timing_ms["connection_retry_ms"] / 1000,
            ping_interval_s=timing_ms["ping_interval_ms"] / 1000,
            compaction_min_entries=compaction_min_entries,
        )

    @classmethod
    def from_preset(cls, name: str) -> RaftSettings:
        """The settings of preset `name` (a key of PRESETS) with the default compaction."""
        return cls.from_timing(PRESETS[name])

    def validate(self) -> list[str]:
        problems = []
        if not self.election_min_s > 3 * self.heartbeat_s:
            problems.append("election_min_ms must be more than 3 x heartbeat_ms")
        if not self.election_max_s > self.election_min_s:
            problems.append("election_max_ms must be more than election_min_ms")
        if not self.connection_timeout_s >= self.election_max_s:
            problems.append("connection_timeout_ms must be at least election_max_ms")
        if self.compaction_min_entries < 10:
            problems.append("compaction_min_entries must be at least 10")
        return problems


# node.peer_wire: the wire a node dials its peers with; it accepts both, so that a cluster can
# upgrade from the releases before the sealed wire one node at a time (docs/operations.md)
PEER_WIRE_SEALED = "aes-gcm"
PEER_WIRE_FERNET = "fernet"  # pysyncobj's wire, as the releases before the sealed one spoke it
PEER_WIRES = (PEER_WIRE_SEALED, PEER_WIRE_FERNET)

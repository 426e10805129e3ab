"""Raft timing and log-compaction settings of a node (the `[timing]` table of its config)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RaftSettings:
    """Raft timing. `heartbeat_s` is pysyncobj's appendEntriesPeriod; elections start after a
    random timeout in [election_min_s, election_max_s]; a leader that hears from no majority
    for `election_min_s` steps down."""

    heartbeat_s: float = 0.05
    election_min_s: float = 0.3
    election_max_s: float = 0.6
    connection_timeout_s: float = 1.5
    connection_retry_s: float = 0.25
    ping_interval_s: float = 0.25
    compaction_min_entries: int = 10_000
    compaction_min_time_s: float = 3600.0
    queue_size: int = 20_000

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

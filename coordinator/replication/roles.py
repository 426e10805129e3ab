"""The Raft roles of a node, named once (Raft §5.1: follower, candidate, leader; plus the learner,
a non-voter catching up before `members add` promotes it).

Every other table of roles derives from `Role` by name: pysyncobj's state numbers (in
syncobj_patch), the proto enum `admin_pb2.Role` (same member names), the metric labels and the
CLI's lowercase names (`label`). Nothing here imports pysyncobj or the generated proto code.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """A node's Raft role. The value is the name RaftStatus, logs and the proto enum use."""

    FOLLOWER = "FOLLOWER"
    CANDIDATE = "CANDIDATE"
    LEADER = "LEADER"
    LEARNER = "LEARNER"

    @property
    def label(self) -> str:
        """The lowercase name of metric labels and the CLI ("follower")."""
        return self.value.lower()

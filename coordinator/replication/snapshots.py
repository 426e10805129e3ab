"""The snapshot file: the core's canonical state bytes plus what pysyncobj needs to resume the
log after it (the last two entries it covers and the cluster membership), as a versioned
`coordinator.v1.Snapshot` protobuf. No pickle.

File layout: MAGIC (8 bytes) | sha256 of the body (32 bytes) | body (the protobuf). Any damaged
byte anywhere in the file is detected before anything in it is trusted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from coordinator.v1 import command_pb2

SNAPSHOT_VERSION = 1
MAGIC = b"COORDSN1"
Entry = tuple[bytes, int, int]  # (command, index, term)


class SnapshotFileError(ValueError):
    """A snapshot file that is corrupt, truncated or of an unknown version."""


@dataclass(frozen=True, slots=True)
class MemberAddress:
    raft_address: str
    node_id: str
    grpc_address: str
    added_index: int = 0  # the index of the committed change that added it (0: a founding member)


@dataclass(frozen=True, slots=True)
class SnapshotContents:
    last_applied: Entry
    previous: Entry
    members: tuple[MemberAddress, ...]  # the committed membership at last_applied
    state: bytes
    cluster_id: str = ""


def encode(contents: SnapshotContents) -> bytes:
    def entry(e: Entry) -> command_pb2.Snapshot.Entry:
        return command_pb2.Snapshot.Entry(index=e[1], term=e[2], command=e[0])

    body = command_pb2.Snapshot(
        version=SNAPSHOT_VERSION,
        last_applied=entry(contents.last_applied),
        previous=entry(contents.previous),
        members=[
            command_pb2.Snapshot.Member(
                raft_address=m.raft_address,
                node_id=m.node_id,
                grpc_address=m.grpc_address,
                added_index=m.added_index,
            )
            for m in contents.members
        ],
        state=contents.state,
        state_sha256=hashlib.sha256(contents.state).digest(),
        cluster_id=contents.cluster_id,
    ).SerializeToString(deterministic=True)
    return MAGIC + hashlib.sha256(body).digest() + body


def decode(data: bytes) -> SnapshotContents:
    if len(data) < len(MAGIC) + 32 or not data.startswith(MAGIC):
        raise SnapshotFileError("not a coordinator snapshot file (bad magic or too short)")
    digest, body = data[len(MAGIC) : len(MAGIC) + 32], data[len(MAGIC) + 32 :]
    if hashlib.sha256(body).digest() != digest:
        raise SnapshotFileError("snapshot file does not match its sha256 (corrupt or truncated)")
    message = command_pb2.Snapshot()
    try:
        message.ParseFromString(body)
    except (DecodeError, ValueError) as exc:
        raise SnapshotFileError(f"not a coordinator.v1.Snapshot: {exc}") from None
    if message.version != SNAPSHOT_VERSION:
        raise SnapshotFileError(f"unsupported snapshot version {message.version}")
    if hashlib.sha256(message.state).digest() != message.state_sha256:
        raise SnapshotFileError("snapshot state does not match its sha256 (corrupt or truncated)")
    if not message.HasField("last_applied") or not message.HasField("previous"):
        raise SnapshotFileError("snapshot lacks its log position")

    def entry(e: command_pb2.Snapshot.Entry) -> Entry:
        return (e.command, e.index, e.term)

    return SnapshotContents(
        entry(message.last_applied),
        entry(message.previous),
        tuple(
            MemberAddress(m.raft_address, m.node_id, m.grpc_address, m.added_index)
            for m in message.members
        ),
        message.state,
        message.cluster_id,
    )

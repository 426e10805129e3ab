"""The Raft log's entry format: core commands to and from the versioned protobuf envelope.

Every coordinator entry in the log is ENTRY_TYPE (one byte, 0x10) followed by a serialized
`coordinator.v1.Command`. No pickle: the log outlives any one release, and a node can always
tell an entry it does not understand (`EnvelopeError`) from a command the core refuses.

`decode` is total over bytes: it returns a command or raises EnvelopeError (a ValueError),
never anything else, so the replicated apply can turn any unreadable entry into a refusal.
"""

from __future__ import annotations

from google.protobuf.message import DecodeError

from coordinator.core import commands as c
from coordinator.core.refusals import InvalidCommand
from coordinator.v1 import command_pb2
from coordinator.wire.commands import FROM_BODY, to_body

ENTRY_TYPE = 0x10
ENVELOPE_VERSION = 1


class EnvelopeError(ValueError):
    """Bytes that are not a command this node understands. `field` names the culprit."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def encode(command: c.Command, issued_at_ns: int) -> bytes:
    """The entry payload (without the ENTRY_TYPE byte) for `command`."""
    envelope = command_pb2.Command(version=ENVELOPE_VERSION, issued_at_ns=issued_at_ns)
    field, body = to_body(command)
    getattr(envelope, field).CopyFrom(body)
    return envelope.SerializeToString()


def decode(payload: bytes) -> tuple[c.Command, int]:
    """The command and its issued_at_ns. Raises EnvelopeError for anything else."""
    envelope = command_pb2.Command()
    try:
        envelope.ParseFromString(payload)
    except (DecodeError, ValueError) as exc:
        raise EnvelopeError(f"entry is not a coordinator.v1.Command: {exc}") from None
    if envelope.version != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported command envelope version {envelope.version}", "version")
    kind = envelope.WhichOneof("body")
    if kind is None:
        raise EnvelopeError("command envelope has no body", "body")
    try:
        return FROM_BODY[kind](getattr(envelope, kind)), envelope.issued_at_ns
    except InvalidCommand as exc:
        raise EnvelopeError(exc.message, exc.field) from None

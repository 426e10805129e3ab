"""The Raft log's entry format and the snapshot file: versioned protobuf, total decoding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from coordinator.core import commands as c
from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.replication import envelope, snapshots
from coordinator.replication.envelope import EnvelopeError, decode, encode
from coordinator.v1 import command_pb2

ALL_COMMANDS: list[c.Command] = [
    c.Campaign("e1", 500, "r1"),
    c.KeepAlive("e1", 3),
    c.Expire(3, 7),
    c.Resign("e1", 3, "e2"),
    c.RequestHandoff("e2"),
    c.SubmitOrder("e1", 3, "o1", "A1", "BTC-USD", Side.SELL, Decimal("0.5"), Decimal("64000.25")),
    c.UpdateOrder("e1", 3, "o1", OrderStatus.OPEN, "V1", ""),
    c.CancelOrder("e1", 3, "o1"),
    c.ReportFill("e1", 3, "f1", "o1", Decimal("0.25"), Decimal("64000")),
    c.SetRiskLimits("A1", "*", RiskLimits(Decimal(5), None, 10)),
    c.SetRiskLimits("*", "*", RiskLimits()),
    c.Halt("venue down"),
    c.Resume(),
    c.Barrier(),
]


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda cmd: type(cmd).__name__)
def test_every_command_round_trips_through_the_envelope(command: c.Command) -> None:
    assert decode(encode(command, 123)) == (command, 123)


@pytest.mark.parametrize("payload", [b"", b"\x00\x01\x02garbage", b"\xff" * 40])
def test_garbage_entries_are_envelope_errors_never_other_exceptions(payload: bytes) -> None:
    with pytest.raises(EnvelopeError):
        decode(payload)


def test_an_unknown_envelope_version_is_refused() -> None:
    with pytest.raises(EnvelopeError, match="version"):
        decode(
            command_pb2.Command(
                version=2, barrier=command_pb2.Command.Barrier()
            ).SerializeToString()
        )


def test_a_malformed_decimal_in_an_entry_names_the_field() -> None:
    bad = command_pb2.Command(
        version=1,
        submit_order=command_pb2.Command.SubmitOrder(
            engine_id="e1",
            epoch=1,
            client_order_id="o1",
            account="A",
            instrument="I",
            side=1,
            quantity="1e3",
            price="1",
        ),
    )
    with pytest.raises(EnvelopeError) as caught:
        decode(bad.SerializeToString())
    assert caught.value.field == "quantity"


def test_entries_carry_no_pickle() -> None:
    payload = encode(c.Barrier(), 1)
    assert b"\x80" not in payload[:2] and envelope.ENTRY_TYPE == 0x10


def test_snapshot_file_round_trip() -> None:
    contents = snapshots.SnapshotContents(
        (b"\x10abc", 12, 3),
        (b"\x01", 11, 3),
        (snapshots.MemberAddress("127.0.0.1:1", "dc1", "127.0.0.1:2"),),
        b'{"x":1}',
    )
    assert snapshots.decode(snapshots.encode(contents)) == contents


@pytest.mark.parametrize(
    "damage", [lambda b: b[:-3], lambda b: b[:10] + b"\x00" + b[11:], lambda b: b"junk"]
)
def test_a_damaged_snapshot_file_is_detected(damage: object) -> None:
    data = snapshots.encode(
        snapshots.SnapshotContents((b"\x10", 2, 1), (b"\x01", 1, 1), (), b"state-bytes" * 20)
    )
    assert snapshots.decode(data).state == b"state-bytes" * 20
    with pytest.raises(snapshots.SnapshotFileError):
        snapshots.decode(damage(data))  # type: ignore[operator]

"""The two etcd messages the benchmark encodes by hand (coordinator/bench/etcd.py), checked
against the protobuf library encoding the same messages from their etcd definitions
(api/etcdserverpb/rpc.proto, rebuilt here as descriptors): an oracle independent of the code."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from coordinator.bench.etcd import (
    PUT_KEY_BYTES,
    PUT_REQUEST_BYTES,
    MemberStatus,
    fields,
    member_status,
    put_key,
    put_request,
    put_value,
    read_varint,
    varint,
)

F = descriptor_pb2.FieldDescriptorProto


def etcd_messages() -> dict[str, Any]:
    """PutRequest, ResponseHeader and StatusResponse as etcd 3.4 defines them."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="bench_etcd_oracle.proto", package="etcdserverpb", syntax="proto3"
    )

    def message(name: str, *spec: tuple[str, int, int, str]) -> None:
        m = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in spec:
            label = F.LABEL_REPEATED if field_name == "errors" else F.LABEL_OPTIONAL
            added = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    message(
        "PutRequest",
        ("key", 1, F.TYPE_BYTES, ""),
        ("value", 2, F.TYPE_BYTES, ""),
        ("lease", 3, F.TYPE_INT64, ""),
        ("prev_kv", 4, F.TYPE_BOOL, ""),
    )
    message(
        "ResponseHeader",
        ("cluster_id", 1, F.TYPE_UINT64, ""),
        ("member_id", 2, F.TYPE_UINT64, ""),
        ("revision", 3, F.TYPE_INT64, ""),
        ("raft_term", 4, F.TYPE_UINT64, ""),
    )
    message(
        "StatusResponse",
        ("header", 1, F.TYPE_MESSAGE, ".etcdserverpb.ResponseHeader"),
        ("version", 2, F.TYPE_STRING, ""),
        ("dbSize", 3, F.TYPE_INT64, ""),
        ("leader", 4, F.TYPE_UINT64, ""),
        ("raftIndex", 5, F.TYPE_UINT64, ""),
        ("raftTerm", 6, F.TYPE_UINT64, ""),
        ("raftAppliedIndex", 7, F.TYPE_UINT64, ""),
        ("errors", 8, F.TYPE_STRING, ""),
        ("dbSizeInUse", 9, F.TYPE_INT64, ""),
        ("isLearner", 10, F.TYPE_BOOL, ""),
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"etcdserverpb.{name}"))
        for name in ("PutRequest", "StatusResponse")
    }


ORACLE = etcd_messages()


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16_383, 16_384, 2**32, 2**64 - 1])
def test_a_varint_reads_back_as_written(value: int) -> None:
    encoded = varint(value)
    assert read_varint(b"\x00" + encoded + b"\x7f", 1) == (value, 1 + len(encoded))


def test_a_truncated_or_overlong_varint_is_refused() -> None:
    with pytest.raises(ValueError, match="truncated or overlong varint"):
        read_varint(b"\x80\x80", 0)
    with pytest.raises(ValueError, match="truncated or overlong varint"):
        read_varint(b"\xff" * 11, 0)


def test_a_put_request_is_what_protobuf_encodes() -> None:
    key, value = b"bench/b001/c000/000000000000000000000042", b"v" * 155
    assert put_request(key, value) == ORACLE["PutRequest"](key=key, value=value).SerializeToString()
    parsed = ORACLE["PutRequest"].FromString(put_request(b"k", b""))
    assert (parsed.key, parsed.value) == (b"k", b"")


def test_every_benchmark_put_is_the_same_size_with_a_unique_key() -> None:
    keys = {put_key("bench/b001/c000/", i) for i in (0, 7, 10**6)}
    assert len(keys) == 3 and {len(k) for k in keys} == {PUT_KEY_BYTES}
    for key in keys:
        assert len(put_request(key, put_value())) == PUT_REQUEST_BYTES


def test_a_status_response_names_the_member_and_its_leader() -> None:
    # etcd member ids are random 64-bit numbers, often above 2**63
    raw = ORACLE["StatusResponse"](
        header={"cluster_id": 17, "member_id": 2**64 - 5, "revision": 12_345, "raft_term": 7},
        version="3.4.23",
        dbSize=20_480,
        leader=9_372_538_179_322_589_801,
        raftIndex=99,
        raftTerm=7,
        errors=["NOSPACE"],
        isLearner=False,
    ).SerializeToString()
    assert member_status(raw) == MemberStatus(
        member_id=2**64 - 5, leader_id=9_372_538_179_322_589_801, raft_term=7, revision=12_345
    )


def test_a_status_response_without_a_leader_says_zero() -> None:
    raw = ORACLE["StatusResponse"](header={"member_id": 5}, version="3.4.23").SerializeToString()
    assert member_status(raw) == MemberStatus(member_id=5, leader_id=0, raft_term=0, revision=0)


def test_fixed_width_fields_are_skipped_and_malformed_messages_refused() -> None:
    fixed = bytes([4 << 3 | 1]) + (7).to_bytes(8, "little") + bytes([5 << 3 | 5]) + b"\x01\0\0\0"
    assert list(fields(fixed)) == [(4, 7), (5, 1)]
    with pytest.raises(ValueError, match="runs past the end"):
        list(fields(bytes([1 << 3 | 2, 5]) + b"abc"))
    with pytest.raises(ValueError, match="unsupported wire type 3"):
        list(fields(bytes([1 << 3 | 3])))

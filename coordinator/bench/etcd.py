"""etcd as the yardstick: a local 3-member etcd cluster, started and stopped by PID, and a load
session that puts keys through etcd's gRPC API.

There is no etcd client package to rely on, so the two messages used are encoded by hand:
`PutRequest{key = 1, value = 2}` (etcdserverpb.KV/Put) and the fields of `StatusResponse`
(etcdserverpb.Maintenance/Status) that name a member and its leader: `header = 1`
(ResponseHeader: cluster_id = 1, member_id = 2, revision = 3, raft_term = 4) and `leader = 4`.
Both go over gRPC by raw method path as bytes.

The cluster runs with etcd's defaults for what is compared (fsync on, heartbeat 100 ms,
election 1000 ms), every member on 127.0.0.1 ports outside the ephemeral range
(coordinator/ports.py), its data under one temporary directory. `close()` stops every member
it started by PID and removes that directory; it never looks for etcd processes by name.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import grpc

from coordinator.localcluster import ManagedProcess, wait_until
from coordinator.ports import free_ports

PUT_METHOD = "/etcdserverpb.KV/Put"
STATUS_METHOD = "/etcdserverpb.Maintenance/Status"
INSTALL_HINT = "scripts/install-etcd"
# The size of every PutRequest, to match the coordinator's ~200 B SubmitOrderRequest.
PUT_REQUEST_BYTES = 200
PUT_KEY_BYTES = 40

_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2
_FIXED32 = 5


# ------------------------------------------------------------------------- protobuf by hand


def varint(value: int) -> bytes:
    """The protobuf base-128 varint of a non-negative integer."""
    assert value >= 0, value
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def read_varint(raw: bytes, at: int) -> tuple[int, int]:
    """The varint starting at `raw[at]` and the offset just past it. Raises ValueError when it
    runs off the end or is longer than 10 bytes (more than 64 bits)."""
    value = shift = 0
    for offset in range(at, min(len(raw), at + 10)):
        byte = raw[offset]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset + 1
        shift += 7
    raise ValueError(f"truncated or overlong varint at byte {at}")


def length_delimited(number: int, payload: bytes) -> bytes:
    """Field `number` with wire type 2 (bytes, string or a nested message)."""
    return varint(number << 3 | _LENGTH_DELIMITED) + varint(len(payload)) + payload


def fields(raw: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Each (field number, value) of one encoded message, in order: an int for varint and fixed
    fields, bytes for length-delimited ones. Raises ValueError on a malformed message or a
    group (wire types 3 and 4, unused by etcd)."""
    at = 0
    while at < len(raw):
        key, at = read_varint(raw, at)
        number, wire_type = key >> 3, key & 7
        if wire_type == _VARINT:
            value, at = read_varint(raw, at)
            yield number, value
        elif wire_type in (_FIXED64, _FIXED32):
            width = 8 if wire_type == _FIXED64 else 4
            if at + width > len(raw):
                raise ValueError(f"field {number} runs past the end")
            yield number, int.from_bytes(raw[at : at + width], "little")
            at += width
        elif wire_type == _LENGTH_DELIMITED:
            length, at = read_varint(raw, at)
            if at + length > len(raw):
                raise ValueError(f"field {number} runs past the end")
            yield number, raw[at : at + length]
            at += length
        else:
            raise ValueError(f"unsupported wire type {wire_type} of field {number}")


def put_request(key: bytes, value: bytes) -> bytes:
    """An encoded etcdserverpb.PutRequest with only `key` and `value` set."""
    return length_delimited(1, key) + length_delimited(2, value)


@dataclass(frozen=True)
class MemberStatus:
    """What etcdserverpb.Maintenance/Status says about the member that answered."""

    member_id: int
    leader_id: int
    raft_term: int
    revision: int


def member_status(raw: bytes) -> MemberStatus:
    """Decodes a StatusResponse: header.member_id, leader, header.raft_term, header.revision
    (0 when absent, as protobuf defaults are). Raises ValueError on a malformed message."""
    header: dict[int, int] = {}
    leader_id = 0
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            header = {n: v for n, v in fields(value) if isinstance(v, int)}
        elif number == 4 and isinstance(value, int):
            leader_id = value
    return MemberStatus(header.get(2, 0), leader_id, header.get(4, 0), header.get(3, 0))


def put_value(key_bytes: int = PUT_KEY_BYTES, total: int = PUT_REQUEST_BYTES) -> bytes:
    """The value that makes a PutRequest with a `key_bytes` key exactly `total` bytes long."""
    fixed = len(length_delimited(1, b"k" * key_bytes))
    for length in range(total - fixed, 0, -1):
        if len(length_delimited(2, b"v" * length)) + fixed == total:
            return b"v" * length
    raise ValueError(f"no value makes a {total} B PutRequest with a {key_bytes} B key")


def put_key(prefix: str, index: int, key_bytes: int = PUT_KEY_BYTES) -> bytes:
    """`prefix` then `index` zero-padded to `key_bytes`: unique per (prefix, index), fixed size."""
    digits = key_bytes - len(prefix)
    assert digits >= len(str(index)), (prefix, index, key_bytes)
    return f"{prefix}{index:0{digits}d}".encode()


# ---------------------------------------------------------------------------- the cluster


def find_etcd() -> str | None:
    """The etcd binary on PATH (or Debian's /usr/bin/etcd), or None when etcd is not installed."""
    found = shutil.which("etcd")
    if found is None and os.access("/usr/bin/etcd", os.X_OK):
        found = "/usr/bin/etcd"
    return found


def etcd_version(binary: str) -> str:
    """The first line of `etcd --version` ("etcd Version: 3.4.23")."""
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    )
    return (out.stdout.strip().splitlines() or ["unknown"])[0]


@dataclass
class EtcdMember:
    name: str
    client_address: str
    peer_address: str
    directory: Path
    process: ManagedProcess = field(init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self.process.pid


class EtcdCluster:
    """`size` etcd members named e1, e2, ... under one temporary directory."""

    def __init__(self, binary: str, size: int = 3) -> None:
        self.binary = binary
        self.base = Path(tempfile.mkdtemp(prefix="coordinator-bench-etcd-"))
        ports = free_ports(2 * size)
        self.members: dict[str, EtcdMember] = {}
        for i in range(size):
            name = f"e{i + 1}"
            member = EtcdMember(
                name,
                f"127.0.0.1:{ports[2 * i]}",
                f"127.0.0.1:{ports[2 * i + 1]}",
                self.base / name,
            )
            member.process = ManagedProcess([binary], self.base / f"{name}.log")
            self.members[name] = member
        self._channels: dict[str, grpc.Channel] = {}

    def _initial_cluster(self) -> str:
        return ",".join(f"{m.name}=http://{m.peer_address}" for m in self.members.values())

    def start(self, timeout_s: float = 30.0) -> EtcdCluster:
        """Starts every member (a new cluster) and waits until they agree on a leader."""
        token = f"bench-{secrets.token_hex(4)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        for member in self.members.values():
            member.directory.mkdir(parents=True, exist_ok=True)
            member.process.start(
                [
                    "--name", member.name,
                    "--data-dir", str(member.directory),
                    "--listen-client-urls", f"http://{member.client_address}",
                    "--advertise-client-urls", f"http://{member.client_address}",
                    "--listen-peer-urls", f"http://{member.peer_address}",
                    "--initial-advertise-peer-urls", f"http://{member.peer_address}",
                    "--initial-cluster", self._initial_cluster(),
                    "--initial-cluster-token", token,
                    "--initial-cluster-state", "new",
                    "--logger", "zap",
                    "--log-outputs", "stderr",
                ],
                env,
            )  # fmt: skip
        wait_until(self._agreed_leader, timeout_s, "the etcd members to agree on a leader")
        return self

    def status(self, name: str, timeout_s: float = 1.0) -> MemberStatus:
        """Maintenance/Status of one member."""
        if name not in self._channels:
            self._channels[name] = grpc.insecure_channel(self.members[name].client_address)
        call = self._channels[name].unary_unary(
            STATUS_METHOD, request_serializer=None, response_deserializer=None
        )
        raw: bytes = call(b"", timeout=timeout_s)
        return member_status(raw)

    def _agreed_leader(self) -> str | None:
        for name, member in self.members.items():
            exit_status = member.process.exit_status()
            if exit_status is not None:
                raise RuntimeError(
                    f"etcd member {name} exited with {exit_status}:\n{member.process.log_tail(15)}"
                )
        statuses = {name: self.status(name) for name in self.members}
        names_by_id = {s.member_id: name for name, s in statuses.items()}
        leaders = {s.leader_id for s in statuses.values()}
        if len(leaders) == 1 and (leader := leaders.pop()) in names_by_id:
            return names_by_id[leader]
        return None

    def leader(self, timeout_s: float = 10.0) -> str:
        """The name of the member every member calls leader."""
        return wait_until(self._agreed_leader, timeout_s, "an etcd leader")

    def pids(self) -> dict[str, int]:
        return {name: m.pid for name, m in self.members.items() if m.pid is not None}

    def close(self) -> None:
        """Stops every member by PID (SIGTERM, then SIGKILL) and removes the data."""
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        for member in self.members.values():
            member.process.stop(timeout_s=10.0)
        shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------- the session


class EtcdPuts:
    """One client of the etcd cluster: each `send` puts a new key with a fixed value, so that
    every PutRequest is `PUT_REQUEST_BYTES` long."""

    def __init__(self, channel: grpc.aio.Channel, key_prefix: str, call_timeout_s: float) -> None:
        self._put = channel.unary_unary(
            PUT_METHOD, request_serializer=None, response_deserializer=None
        )
        self._prefix = key_prefix
        self._value = put_value()
        self._timeout_s = call_timeout_s

    async def send(self, index: int) -> None:
        request = put_request(put_key(self._prefix, index), self._value)
        await self._put(request, timeout=self._timeout_s)

    async def close(self) -> None:
        """Nothing to end: the channel belongs to the caller."""

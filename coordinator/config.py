"""Node configuration: a TOML file, then `COORDINATOR_*` environment variables, then command-line
flags, in that order of precedence (flags win). Validation reports every problem, each naming
its key, so `coordinator config check` can explain a broken file in one go.

    [node]
    id = "dc1"                          # this node's id (the cluster's name for it)
    grpc_address = "10.0.1.5:7001"      # the gRPC API (engines, operators, peers forwarding)
    grpc_bind = "0.0.0.0:7001"          # where the gRPC server binds (defaults to grpc_address)
    raft_address = "0.0.0.0:7101"       # where the Raft port binds
    raft_advertise = "10.0.1.5:7101"    # what peers dial and the node's Raft identity
                                        #   (defaults to raft_address)
    data_dir = "/var/lib/coordinator"
    cluster_secret_file = "/etc/coordinator/cluster.secret"   # or cluster_secret = "..."
    metrics_address = "0.0.0.0:9101"    # Prometheus; optional
    log_format = "text"                 # or "json"
    # true: start as a learner and wait for `coordinator members add`
    join = false

    [[peers]]                           # the other voters at bootstrap
    id = "dc2"
    raft_address = "10.0.2.5:7101"      # the peer's advertised Raft address
    grpc_address = "10.0.2.5:7001"

    [timing]
    # "lan" or "wan": the numbers of PRESETS (replication/settings.py)
    preset = "lan"
    election_min_ms = 400               # any preset key given here overrides the preset's number

    # optional: reach a peer's Raft or gRPC address through a proxy
    [dial]
    "10.0.2.5:7101" = "127.0.0.1:27102"
"""

from __future__ import annotations

import os
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coordinator.core.refusals import InvalidCommand
from coordinator.core.validation import check_id
from coordinator.replication.settings import (
    AUDIT_RETENTION_ENTRIES,
    COMPACTION_MIN_ENTRIES,
    DEFAULT_PRESET,
    PEER_WIRE_SEALED,
    PEER_WIRES,
    RaftSettings,
)

# re-exported: config.PRESETS is the documented name
from coordinator.replication.settings import PRESETS as PRESETS
from coordinator.wire.channel import is_host_port

SECRET_MIN_LENGTH = 16
# The [timing] keys outside the presets, with their defaults.
LOG_DEFAULTS = {
    "compaction_min_entries": COMPACTION_MIN_ENTRIES,
    "audit_retention_entries": AUDIT_RETENTION_ENTRIES,
}
NODE_KEYS = {
    "id",
    "grpc_address",
    "grpc_bind",
    "raft_address",
    "raft_advertise",
    "data_dir",
    "cluster_secret",
    "cluster_secret_file",
    "metrics_address",
    "log_format",
    "join",
    "peer_wire",
}
TIMING_KEYS = {"preset", *LOG_DEFAULTS, *PRESETS[DEFAULT_PRESET]}
PEER_KEYS = {"id", "raft_address", "grpc_address"}
# Environment variables: node keys as COORDINATOR_<KEY>, timing keys as COORDINATOR_TIMING_<KEY>.
ENV_PREFIX = "COORDINATOR_"


class ConfigError(ValueError):
    """An unusable configuration. `problems` lists every problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class PeerConfig:
    id: str
    raft_address: str
    grpc_address: str


@dataclass(frozen=True, slots=True)
class NodeConfig:
    node_id: str
    grpc_address: str
    raft_bind: str
    raft_advertise: str
    data_dir: Path
    cluster_secret: str = field(repr=False)
    peers: tuple[PeerConfig, ...]
    raft: RaftSettings
    commit_timeout_s: float
    metrics_address: str = ""
    log_format: str = "text"
    audit_retention_entries: int = AUDIT_RETENTION_ENTRIES
    dial: Mapping[str, str] = field(default_factory=dict)
    join: bool = False
    grpc_bind: str = ""
    peer_wire: str = PEER_WIRE_SEALED  # what this node dials peers with (settings.PEER_WIRES)
    # what is allowed but unsafe, e.g. a secret file others can read (serve logs each one)
    warnings: tuple[str, ...] = ()

    @property
    def grpc_listen(self) -> str:
        return self.grpc_bind or self.grpc_address


def load(
    path: Path | None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig:
    """Reads and validates a node configuration. Raises ConfigError listing every problem.

    `overrides` are flag values keyed like "node.id" or "timing.preset" (None = not given).
    """
    problems: list[str] = []
    document: dict[str, Any] = {}
    if path is not None:
        try:
            document = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise ConfigError([f"cannot read config file {path}: {exc.strerror or exc}"]) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None
    node = _table(document, "node", problems)
    timing = _table(document, "timing", problems)
    dial = _table(document, "dial", problems)
    for key in document:
        if key not in {"node", "timing", "peers", "dial"}:
            problems.append(
                f"unknown section [{key}] (expected [node], [[peers]], [timing], [dial])"
            )
    _apply_environment(node, timing, os.environ if environ is None else environ)
    for key, value in (overrides or {}).items():
        if value is not None:
            section, _, name = key.partition(".")
            (node if section == "node" else timing)[name] = value
    for key in node:
        if key not in NODE_KEYS:
            problems.append(f"unknown key node.{key}")
    for key in timing:
        if key not in TIMING_KEYS:
            problems.append(f"unknown key timing.{key}")
    config = _build(node, timing, dial, _peers(document, problems), problems)
    if problems or config is None:
        raise ConfigError(problems)
    return config


def _table(document: dict[str, Any], name: str, problems: list[str]) -> dict[str, Any]:
    value = document.get(name, {})
    if not isinstance(value, dict):
        problems.append(f"[{name}] must be a table")
        return {}
    return dict(value)


def _apply_environment(
    node: dict[str, Any], timing: dict[str, Any], environ: Mapping[str, str]
) -> None:
    for key in NODE_KEYS:
        value = environ.get(ENV_PREFIX + key.upper())
        if value is not None:
            node[key] = value
    for key in TIMING_KEYS:
        value = environ.get(f"{ENV_PREFIX}TIMING_{key.upper()}")
        if value is not None:
            timing[key] = value


def _peers(document: dict[str, Any], problems: list[str]) -> list[PeerConfig]:
    raw = document.get("peers", [])
    if not isinstance(raw, list):
        problems.append("peers must be an array of tables: [[peers]]")
        return []
    peers = []
    for i, entry in enumerate(raw):
        where = f"peers[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} must be a table")
            continue
        for key in entry:
            if key not in PEER_KEYS:
                problems.append(f"unknown key {where}.{key}")
        values = {key: entry.get(key) for key in PEER_KEYS}
        if _required_id(f"{where}.id", values["id"], problems) and all(
            _address(f"{where}.{key}", values[key], problems)
            for key in ("raft_address", "grpc_address")
        ):
            peers.append(
                PeerConfig(
                    str(values["id"]), str(values["raft_address"]), str(values["grpc_address"])
                )
            )
    return peers


def _build(
    node: dict[str, Any],
    timing: dict[str, Any],
    dial: dict[str, Any],
    peers: list[PeerConfig],
    problems: list[str],
) -> NodeConfig | None:
    node_id = node.get("id")
    _required_id("node.id", node_id, problems)
    for key in ("grpc_address", "raft_address"):
        _address(f"node.{key}", node.get(key), problems)
    advertise = node.get("raft_advertise") or node.get("raft_address")
    if node.get("raft_advertise"):
        _address("node.raft_advertise", node["raft_advertise"], problems)
    if str(advertise or "").startswith("0.0.0.0:"):
        problems.append(
            "node.raft_advertise is required when node.raft_address binds 0.0.0.0 (peers must "
            "know which address to dial)"
        )
    data_dir = node.get("data_dir")
    if data_dir is not None and not isinstance(data_dir, str):
        problems.append(_not_a_string("node.data_dir", data_dir))
    elif not data_dir:
        problems.append("node.data_dir is required (the directory for the Raft log and snapshots)")
    warnings: list[str] = []
    secret = _secret(node, problems, warnings)
    peer_wire = node.get("peer_wire", PEER_WIRE_SEALED)
    if peer_wire not in PEER_WIRES:
        problems.append(f"node.peer_wire must be one of {list(PEER_WIRES)}, got {peer_wire!r}")
    log_format = node.get("log_format", "text")
    if log_format not in ("text", "json"):
        problems.append(f"node.log_format must be 'text' or 'json', got {log_format!r}")
    if node.get("grpc_bind"):
        _address("node.grpc_bind", node["grpc_bind"], problems)
    metrics = node.get("metrics_address") or ""
    if metrics:
        _address("node.metrics_address", metrics, problems)
    join = node.get("join", False)
    if isinstance(join, str) and join.lower() in ("true", "false", "1", "0"):
        join = join.lower() in ("true", "1")
    if not isinstance(join, bool):
        problems.append(f"node.join must be true or false, got {join!r}")
    timings = _timing(timing, problems)
    seen_ids, seen_raft = {node_id}, {advertise}
    for peer in peers:
        if peer.id in seen_ids:
            problems.append(
                f"peer id {peer.id!r} is used twice (node.id and peers ids must be unique)"
            )
        if peer.raft_address in seen_raft:
            problems.append(f"raft address {peer.raft_address} is used twice")
        seen_ids.add(peer.id)
        seen_raft.add(peer.raft_address)
    for source, target in dial.items():
        _address(f"dial.{source!r}", source, problems)
        _address(f"dial.{source!r} (target)", target, problems)
    if problems or timings is None:
        return None
    settings, commit_timeout_ms, audit_retention = timings
    return NodeConfig(
        node_id=str(node_id),
        grpc_address=node["grpc_address"],
        raft_bind=node["raft_address"],
        raft_advertise=str(advertise),
        data_dir=Path(str(data_dir)),
        cluster_secret=secret,
        peers=tuple(peers),
        raft=settings,
        commit_timeout_s=commit_timeout_ms / 1000,
        metrics_address=metrics,
        log_format=log_format,
        audit_retention_entries=audit_retention,
        dial={str(k): str(v) for k, v in dial.items()},
        join=bool(join),
        grpc_bind=str(node.get("grpc_bind") or ""),
        peer_wire=str(peer_wire),
        warnings=tuple(warnings),
    )


def _timing(timing: dict[str, Any], problems: list[str]) -> tuple[RaftSettings, int, int] | None:
    preset_name = timing.get("preset", DEFAULT_PRESET)
    if preset_name not in PRESETS:
        problems.append(f"timing.preset must be one of {sorted(PRESETS)}, got {preset_name!r}")
        return None
    values: dict[str, int] = {**PRESETS[preset_name], **LOG_DEFAULTS}
    ok = True
    for key, raw in timing.items():
        if key == "preset" or key not in TIMING_KEYS:
            continue
        try:
            number = int(raw)
            if number <= 0 or isinstance(raw, bool) or (isinstance(raw, str) and not raw.isdigit()):
                raise ValueError
        except (TypeError, ValueError):
            problems.append(f"timing.{key} must be a positive whole number, got {raw!r}")
            ok = False
            continue
        values[key] = number
    if not ok:
        return None
    settings = RaftSettings.from_timing(
        values, compaction_min_entries=values["compaction_min_entries"]
    )
    invalid = [f"timing: {p}" for p in settings.validate()]
    problems.extend(invalid)
    return (
        None
        if invalid
        else (settings, values["commit_timeout_ms"], values["audit_retention_entries"])
    )


def _secret(node: dict[str, Any], problems: list[str], warnings: list[str]) -> str:
    secret, secret_file = node.get("cluster_secret"), node.get("cluster_secret_file")
    if secret and secret_file:
        problems.append("set node.cluster_secret or node.cluster_secret_file, not both")
        return ""
    if secret_file:
        try:
            secret = Path(str(secret_file)).read_text().strip()
            mode = stat.S_IMODE(Path(str(secret_file)).stat().st_mode)
        except OSError as exc:
            problems.append(
                f"node.cluster_secret_file {secret_file}: cannot read it ({exc.strerror or exc})"
            )
            return ""
        if mode & 0o077:
            warnings.append(
                f"node.cluster_secret_file {secret_file} is readable by group or others (mode "
                f"{mode:04o}): whoever reads it can join the cluster; chmod 600 {secret_file}"
            )
    if not secret:
        problems.append(
            "node.cluster_secret (or node.cluster_secret_file) is required: the Raft port "
            "authenticates peers with it and refuses to run unauthenticated"
        )
        return ""
    if len(str(secret)) < SECRET_MIN_LENGTH:
        problems.append(f"the cluster secret must be at least {SECRET_MIN_LENGTH} characters")
    return str(secret)


def _required_id(key: str, value: Any, problems: list[str]) -> bool:
    if value is None:
        problems.append(f"{key} is required")
        return False
    if not isinstance(value, str):
        problems.append(_not_a_string(key, value))
        return False
    try:
        check_id(key, value)
    except InvalidCommand as exc:
        problems.append(exc.message)
        return False
    return True


def _not_a_string(key: str, value: Any) -> str:
    return f"{key} must be a string (in quotes), got {value!r}"


def _address(key: str, value: Any, problems: list[str]) -> bool:
    """host:port with a port in 1..65535."""
    if not isinstance(value, str) or ":" not in value:
        problems.append(f"{key} must be host:port, got {value!r}")
        return False
    if not is_host_port(value):
        problems.append(f"{key} must be host:port with a port in 1-65535, got {value!r}")
        return False
    return True

"""Defaults have one home (issue 9): the Raft timing numbers live in PRESETS, compaction and audit
retention in one constant each (coordinator/replication/settings.py), and the Raft roles in one
enum (coordinator/replication/roles.py). These tests fail when another module writes its own copy
that drifts from them."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path

import pysyncobj.syncobj
import pytest

from chaos import runner
from coordinator import config
from coordinator.cli import operator
from coordinator.localcluster import LocalCluster
from coordinator.replication import settings, syncobj_patch
from coordinator.replication.journal import RocksJournal
from coordinator.replication.roles import Role
from coordinator.replication.settings import (
    AUDIT_RETENTION_ENTRIES,
    COMPACTION_MIN_ENTRIES,
    PRESETS,
    RaftSettings,
)
from coordinator.v1 import admin_pb2
from tests.conftest import TEST_TIMING

# The preset key (milliseconds) behind each RaftSettings field (seconds).
FIELD_OF_KEY = {
    "heartbeat_ms": "heartbeat_s",
    "election_min_ms": "election_min_s",
    "election_max_ms": "election_max_s",
    "connection_timeout_ms": "connection_timeout_s",
    "connection_retry_ms": "connection_retry_s",
    "ping_interval_ms": "ping_interval_s",
}


def loaded(tmp_path: Path, timing: Mapping[str, int | str]) -> config.NodeConfig:
    """The configuration a LocalCluster node with this [timing] table starts with."""
    cluster = LocalCluster(size=1, base_dir=tmp_path, timing=timing)
    return config.load(cluster.write_config(cluster.nodes["dc1"]), environ={})


def test_config_presets_are_the_settings_presets() -> None:
    assert config.PRESETS is settings.PRESETS


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_key_is_a_raft_setting_or_the_commit_timeout(preset: str) -> None:
    assert set(PRESETS[preset]) == {*FIELD_OF_KEY, "commit_timeout_ms"}


def test_raft_settings_defaults_are_the_lan_preset_and_the_compaction_default() -> None:
    defaults = RaftSettings()
    assert defaults == RaftSettings.from_preset("lan")
    assert {key: round(getattr(defaults, name) * 1000) for key, name in FIELD_OF_KEY.items()} == {
        key: PRESETS["lan"][key] for key in FIELD_OF_KEY
    }
    assert defaults.compaction_min_entries == COMPACTION_MIN_ENTRIES
    assert defaults.validate() == []


def test_the_journal_and_node_config_keep_the_default_audit_retention() -> None:
    journal_default = inspect.signature(RocksJournal.__init__).parameters["audit_retention"].default
    config_default = (
        inspect.signature(config.NodeConfig).parameters["audit_retention_entries"].default
    )
    assert journal_default == config_default == AUDIT_RETENTION_ENTRIES


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_a_config_naming_a_preset_runs_its_numbers(tmp_path: Path, preset: str) -> None:
    node = loaded(tmp_path, {"preset": preset})
    assert node.raft == RaftSettings.from_preset(preset) and node.raft.validate() == []
    assert node.commit_timeout_s == PRESETS[preset]["commit_timeout_ms"] / 1000


def test_a_local_cluster_without_timing_runs_the_lan_preset_and_default_retention(
    tmp_path: Path,
) -> None:
    node = loaded(tmp_path, {})
    assert node.raft == RaftSettings()
    assert node.commit_timeout_s == PRESETS["lan"]["commit_timeout_ms"] / 1000
    assert node.audit_retention_entries == AUDIT_RETENTION_ENTRIES


def test_chaos_nodes_and_test_clusters_run_the_lan_preset(tmp_path: Path) -> None:
    assert loaded(tmp_path / "chaos", runner.TIMING).raft == RaftSettings.from_preset("lan")
    assert loaded(tmp_path / "tests", TEST_TIMING).raft == RaftSettings.from_preset("lan")


def test_every_raft_role_has_one_name() -> None:
    assert [role.value for role in Role] == [role.name for role in Role]
    assert len({role.label for role in Role}) == len(Role)


def test_the_proto_role_enum_carries_the_role_names() -> None:
    assert {
        name for name, number in admin_pb2.Role.items() if number != admin_pb2.ROLE_UNSPECIFIED
    } == {role.name for role in Role}


def test_the_cli_prints_each_role_by_its_label() -> None:
    assert {admin_pb2.Role.Value(role): role.label for role in Role} == operator.ROLE_NAMES


def test_every_pysyncobj_state_maps_to_the_role_of_its_name() -> None:
    states = {
        name: number
        for name, number in vars(pysyncobj.syncobj._RAFT_STATE).items()
        if name.isupper()
    }
    assert {
        number: Role[name] for name, number in states.items()
    } == syncobj_patch._RAFT_STATE_ROLES
    assert set(syncobj_patch._RAFT_STATE_ROLES.values()) == {
        Role.FOLLOWER,
        Role.CANDIDATE,
        Role.LEADER,
    }

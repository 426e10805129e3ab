"""Node configuration: file, then COORDINATOR_* variables, then flags; every problem named."""

from __future__ import annotations

from pathlib import Path

import pytest

from coordinator.config import PRESETS, ConfigError, load

LAN, WAN = PRESETS["lan"], PRESETS["wan"]

GOOD = """
[node]
id = "dc1"
grpc_address = "127.0.0.1:7001"
raft_address = "127.0.0.1:7101"
data_dir = "/tmp/x"
cluster_secret = "0123456789abcdef0123"

[[peers]]
id = "dc2"
raft_address = "127.0.0.1:7102"
grpc_address = "127.0.0.1:7002"

[timing]
preset = "lan"
election_min_ms = 400
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_a_good_file_loads_with_preset_and_overrides(tmp_path: Path) -> None:
    config = load(write(tmp_path, GOOD), environ={})
    assert (config.node_id, config.raft_advertise, config.peers[0].id) == (
        "dc1",
        "127.0.0.1:7101",
        "dc2",
    )
    assert (config.raft.heartbeat_s, config.raft.election_min_s, config.raft.election_max_s) == (
        LAN["heartbeat_ms"] / 1000,
        0.4,
        LAN["election_max_ms"] / 1000,
    )
    assert "0123456789abcdef" not in repr(config)  # the secret is never printed


def test_flags_win_over_environment_which_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    environ = {
        "COORDINATOR_DATA_DIR": "/from/env",
        "COORDINATOR_GRPC_ADDRESS": "127.0.0.1:8001",
        "COORDINATOR_TIMING_PRESET": "wan",
    }
    config = load(
        path,
        {"node.grpc_address": "127.0.0.1:9001", "timing.election_min_ms": None},
        environ=environ,
    )
    assert (str(config.data_dir), config.grpc_address) == ("/from/env", "127.0.0.1:9001")
    # wan preset, with the file's election_min_ms override
    assert config.raft.heartbeat_s == WAN["heartbeat_ms"] / 1000
    assert config.raft.election_min_s == 0.4


def test_every_problem_is_reported_and_names_its_key(tmp_path: Path) -> None:
    broken = (
        GOOD.replace('grpc_address = "127.0.0.1:7001"', 'grpc_adress = "127.0.0.1:7001"')
        .replace('cluster_secret = "0123456789abcdef0123"', 'cluster_secret = "short"')
        .replace("election_min_ms = 400", "election_min_ms = -5")
    )
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, broken), environ={})
    problems = "\n".join(caught.value.problems)
    assert "unknown key node.grpc_adress" in problems
    assert "node.grpc_address must be host:port" in problems
    assert "at least 16 characters" in problems
    assert "timing.election_min_ms must be a positive whole number" in problems


def test_a_missing_cluster_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cluster_secret"):
        load(
            write(tmp_path, GOOD.replace('cluster_secret = "0123456789abcdef0123"', "")), environ={}
        )


def test_inconsistent_timing_is_refused(tmp_path: Path) -> None:
    above_max = GOOD.replace(
        "election_min_ms = 400", f"election_min_ms = {LAN['election_max_ms'] + 300}"
    )
    with pytest.raises(ConfigError, match="election_max_ms must be more than election_min_ms"):
        load(write(tmp_path, above_max), environ={})


def test_not_toml_is_one_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load(write(tmp_path, "[node\nid="), environ={})


def test_duplicate_peer_ids_are_refused(tmp_path: Path) -> None:
    doubled = (
        GOOD
        + '\n[[peers]]\nid = "dc2"\nraft_address = "127.0.0.1:7103"\n'
        + 'grpc_address = "127.0.0.1:7003"\n'
    )
    with pytest.raises(ConfigError, match="peer id 'dc2' is used twice"):
        load(write(tmp_path, doubled), environ={})


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('id = "dc1"', "node.id must be a string (in quotes), got 5"),
        ('data_dir = "/tmp/x"', "node.data_dir must be a string (in quotes), got 5"),
    ],
)
def test_a_value_of_the_wrong_type_is_named_as_such(
    tmp_path: Path, line: str, problem: str
) -> None:
    key = line.split(" = ")[0]
    with pytest.raises(ConfigError) as raised:
        load(write(tmp_path, GOOD.replace(line, f"{key} = 5")), environ={})
    assert problem in str(raised.value)


def test_a_peer_id_of_the_wrong_type_is_named_as_such(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"peers\[0\].id must be a string \(in quotes\), got 7"):
        load(write(tmp_path, GOOD.replace('id = "dc2"', "id = 7")), environ={})


def secret_file(tmp_path: Path, mode: int) -> str:
    path = tmp_path / "cluster.secret"
    path.write_text("0123456789abcdef0123\n")
    path.chmod(mode)
    return GOOD.replace(
        'cluster_secret = "0123456789abcdef0123"', f'cluster_secret_file = "{path}"'
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_secret_file_others_can_read_is_a_warning_naming_the_fix(
    tmp_path: Path, mode: int
) -> None:
    config = load(write(tmp_path, secret_file(tmp_path, mode)), environ={})
    (warning,) = config.warnings
    assert f"readable by group or others (mode {mode:04o})" in warning
    assert f"chmod 600 {tmp_path / 'cluster.secret'}" in warning


def test_a_secret_file_only_its_owner_can_read_is_used_without_a_warning(tmp_path: Path) -> None:
    config = load(write(tmp_path, secret_file(tmp_path, 0o600)), environ={})
    assert (config.cluster_secret, config.warnings) == ("0123456789abcdef0123", ())


def test_the_peer_wire_defaults_to_aes_gcm_and_takes_fernet_for_an_upgrade(tmp_path: Path) -> None:
    assert load(write(tmp_path, GOOD), environ={}).peer_wire == "aes-gcm"
    upgrading = GOOD.replace('data_dir = "/tmp/x"', 'data_dir = "/tmp/x"\npeer_wire = "fernet"')
    assert load(write(tmp_path, upgrading), environ={}).peer_wire == "fernet"
    with pytest.raises(ConfigError, match=r"node\.peer_wire must be one of"):
        load(
            write(
                tmp_path,
                GOOD.replace('data_dir = "/tmp/x"', 'data_dir = "/tmp/x"\npeer_wire = "tls"'),
            ),
            environ={},
        )

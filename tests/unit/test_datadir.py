"""The data directory's identity (server/datadir.py): who owns it, which cluster, fresh or not."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from coordinator.replication.journal import DataDirError
from coordinator.server import datadir


def test_a_fresh_voter_directory_needs_bootstrap_and_a_learner_does_not(tmp_path: Path) -> None:
    with pytest.raises(DataDirError, match=r"no log and no vote.*--bootstrap"):
        datadir.prepare(tmp_path / "voter", "dc1", bootstrap=False, join=False)
    assert not (tmp_path / "voter").exists()
    datadir.prepare(tmp_path / "founder", "dc1", bootstrap=True, join=False)
    datadir.prepare(tmp_path / "learner", "dc4", bootstrap=False, join=True)
    assert datadir.read(tmp_path / "founder")["node_id"] == "dc1"


def test_an_existing_directory_is_kept_and_must_belong_to_this_node(tmp_path: Path) -> None:
    datadir.prepare(tmp_path / "d", "dc1", bootstrap=True, join=False)
    datadir.update(tmp_path / "d", cluster_id="abc")
    # a restart: no bootstrap needed
    datadir.prepare(tmp_path / "d", "dc1", bootstrap=False, join=False)
    assert datadir.read(tmp_path / "d")["cluster_id"] == "abc"
    with pytest.raises(DataDirError, match="belongs to node 'dc1', not 'dc2'"):
        datadir.prepare(tmp_path / "d", "dc2", bootstrap=True, join=False)


def test_a_corrupt_identity_file_stops_start_up(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / datadir.IDENTITY_FILE).write_text("{not json")
    with pytest.raises(DataDirError, match="corrupt"):
        datadir.prepare(tmp_path / "d", "dc1", bootstrap=True, join=False)


def test_the_founders_agree_on_the_cluster_id_whatever_order_they_list_each_other_in() -> None:
    a = datadir.founding_cluster_id(
        [("dc1", "10.0.1.5:7101"), ("dc2", "10.0.2.5:7101"), ("dc3", "10.0.3.5:7101")]
    )
    b = datadir.founding_cluster_id(
        [("dc3", "10.0.3.5:7101"), ("dc1", "10.0.1.5:7101"), ("dc2", "10.0.2.5:7101")]
    )
    other = datadir.founding_cluster_id(
        [("dc1", "10.9.1.5:7101"), ("dc2", "10.0.2.5:7101"), ("dc3", "10.0.3.5:7101")]
    )
    assert a == b != other and len(a) == 16


def test_the_identity_file_is_json_with_sorted_keys(tmp_path: Path) -> None:
    datadir.prepare(tmp_path / "d", "dc1", bootstrap=True, join=False)
    datadir.mark_voter(tmp_path / "d", "dc1")
    assert json.loads((tmp_path / "d" / datadir.IDENTITY_FILE).read_text()) == {
        "format": 1,
        "node_id": "dc1",
        "voter": True,
    }
    assert datadir.is_voter(tmp_path / "d")


def test_a_data_dir_that_cannot_be_created_is_named_not_a_traceback(tmp_path: Path) -> None:
    """Issue 14, item 5: a data_dir below a regular file raised NotADirectoryError from mkdir."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirError, match=f"data_dir {blocker / 'data'} cannot be created"):
        datadir.prepare(blocker / "data", "dc1", bootstrap=True, join=False)
    assert "not a directory" in (datadir.unusable(blocker / "data") or "")


def test_unusable_names_what_is_wrong_with_a_data_dir_before_any_start(tmp_path: Path) -> None:
    assert datadir.unusable(tmp_path / "new" / "deeper") is None  # creatable
    (tmp_path / "file").write_text("x")
    assert "is not a directory" in (datadir.unusable(tmp_path / "file") or "")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        if os.geteuid() != 0:  # root may write anywhere; the check is for everyone else
            assert "cannot be written" in (datadir.unusable(locked / "data") or "")
    finally:
        locked.chmod(0o700)

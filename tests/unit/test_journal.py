"""The RocksDB journal: what survives a restart, and what makes start-up refuse."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from rocksdict import Options, Rdict

from coordinator.replication.journal import DataDirError, RocksJournal, entry_key


def open_journal(tmp_path: Path) -> RocksJournal:
    return RocksJournal(tmp_path / "raft", tmp_path / "snapshot.bin")


def test_entries_term_vote_and_commit_index_survive_a_reopen(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    for index in range(1, 6):
        journal.add(b"cmd%d" % index, index, 2)
    journal.setCurrentTerm(3, "127.0.0.1:7101")
    journal.setRaftCommitIndex(4)
    journal.sync()
    journal.close()
    again = open_journal(tmp_path)
    assert [again[i] for i in range(len(again))] == [(b"cmd%d" % i, i, 2) for i in range(1, 6)]
    assert (again.getCurrentTerm(), again.getVotedForNodeId(), again.getRaftCommitIndex()) == (
        3,
        "127.0.0.1:7101",
        4,
    )


def test_truncating_the_tail_is_persisted(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    for index in range(1, 6):
        journal.add(b"x", index, 1)
    journal.deleteEntriesFrom(2)  # list position 2 = index 3
    journal.add(b"y", 3, 2)
    journal.close()
    again = open_journal(tmp_path)
    assert [e[1:] for e in again[0:]] == [(1, 1), (2, 1), (3, 2)]


def test_compaction_stores_the_snapshot_with_the_new_log_start_and_keeps_the_audit_trail(
    tmp_path: Path,
) -> None:
    journal = open_journal(tmp_path)
    for index in range(1, 11):
        journal.add(b"x%d" % index, index, 1)
    (tmp_path / "snapshot.bin").write_bytes(b"SNAPSHOT-7")
    journal.deleteEntriesTo(6)  # keeps index 7..10
    journal.close()
    (tmp_path / "snapshot.bin").unlink()
    again = open_journal(tmp_path)
    assert again.first_index == 7 and again.last_index == 10
    assert (tmp_path / "snapshot.bin").read_bytes() == b"SNAPSHOT-7"  # rewritten from RocksDB
    assert [e[1] for e in again.archived_entries()] == list(range(1, 11))


def test_a_sync_is_needed_only_when_something_was_written(tmp_path: Path) -> None:
    syncs: list[float] = []
    journal = RocksJournal(tmp_path / "raft", tmp_path / "snapshot.bin", on_sync=syncs.append)
    journal.sync()
    for index in range(1, 101):
        journal.add(b"x", index, 1)
    journal.sync()
    journal.sync()
    assert len(syncs) == 1  # one fsync for the whole batch of 100 entries


def test_a_directory_that_is_not_a_raft_log_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "raft").mkdir()
    (tmp_path / "raft" / "precious.txt").write_text("do not touch")
    with pytest.raises(DataDirError, match="not a RocksDB Raft log"):
        open_journal(tmp_path)
    assert (tmp_path / "raft" / "precious.txt").read_text() == "do not touch"


def test_unreadable_term_and_vote_stop_start_up_instead_of_defaulting_to_term_zero(
    tmp_path: Path,
) -> None:
    open_journal(tmp_path).close()
    db = Rdict(str(tmp_path / "raft"), Options(raw_mode=True))
    db.put(b"M:term_vote", b"{not json")
    db.close()
    with pytest.raises(DataDirError, match="unreadable Raft metadata"):
        open_journal(tmp_path)


def test_a_gap_in_the_log_stops_start_up(tmp_path: Path) -> None:
    journal = open_journal(tmp_path)
    for index in range(1, 6):
        journal.add(b"x", index, 1)
    journal.close()
    db = Rdict(str(tmp_path / "raft"), Options(raw_mode=True))
    db.delete(entry_key(3))
    db.close()
    with pytest.raises(DataDirError, match="gap"):
        open_journal(tmp_path)


def test_a_corrupt_rocksdb_is_refused_with_the_path(tmp_path: Path) -> None:
    open_journal(tmp_path).close()
    (tmp_path / "raft" / "CURRENT").write_text("MANIFEST-999999\n")
    with pytest.raises(DataDirError, match="cannot open the Raft log"):
        open_journal(tmp_path)


class _SlowWal:
    """Stands in for the RocksDB handle: `flush_wal` blocks until released, everything else
    goes to the real database."""

    def __init__(self, db: Rdict) -> None:
        self._db = db
        self.flushing = threading.Event()
        self.release = threading.Event()
        self.flushes_done = 0

    def flush_wal(self, sync: bool) -> None:
        self.flushing.set()
        assert self.release.wait(5), "the test never released the flush"
        self._db.flush_wal(sync)
        self.flushes_done += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def test_a_sync_racing_one_in_flight_returns_only_after_that_fsync_completed(
    tmp_path: Path,
) -> None:
    """A second caller must not take the cleared dirty flag of an fsync still in flight for
    durability: it would acknowledge entries that a power cut can still lose."""
    journal = open_journal(tmp_path)
    journal.add(b"x", 1, 1)
    slow = _SlowWal(journal._db)
    journal._db = slow  # type: ignore[assignment]
    first = threading.Thread(target=journal.sync)
    first.start()
    assert slow.flushing.wait(5)
    second_done = threading.Event()
    flushes_seen_by_second: list[int] = []
    second = threading.Thread(
        target=lambda: (
            journal.sync(),
            flushes_seen_by_second.append(slow.flushes_done),
            second_done.set(),
        )
    )
    second.start()
    second_done.wait(0.3)  # the second sync must still be waiting for the first fsync here
    slow.release.set()
    first.join(5)
    second.join(5)
    assert flushes_seen_by_second == [1]
    journal._db = slow._db
    journal.close()


def test_outcomes_of_applied_entries_survive_a_reopen_and_leave_with_their_entries(
    tmp_path: Path,
) -> None:
    journal = RocksJournal(tmp_path / "raft", tmp_path / "snapshot.bin", audit_retention=3)
    for index in range(1, 11):
        journal.add(b"x", index, 1)
        journal.record_outcome(index, "ACCEPTED" if index % 2 else "STALE_EPOCH")
    (tmp_path / "snapshot.bin").write_bytes(b"SNAPSHOT")
    # the log starts at 8; entries (and outcomes) below 5 leave the audit trail
    journal.deleteEntriesTo(7)
    journal.close()
    again = RocksJournal(tmp_path / "raft", tmp_path / "snapshot.bin", audit_retention=3)
    assert [again.outcome_at(i) for i in range(1, 11)] == ["", "", "", ""] + [
        "ACCEPTED" if i % 2 else "STALE_EPOCH" for i in range(5, 11)
    ]
    assert [e[1] for e in again.archived_entries()] == list(range(5, 11))
    again.close()

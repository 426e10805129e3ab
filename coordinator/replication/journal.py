"""The Raft log, current term, vote and snapshot of one node, durable in RocksDB (rocksdict).

Implements pysyncobj's `Journal` contract (see ../shared/research/pysyncobj.md, section 1.4):
`add`, `clear`, `deleteEntriesFrom(pos)` / `deleteEntriesTo(pos)` (list positions, not Raft
indexes), indexing and slicing into `(command, index, term)` tuples, the commit index, and
term + vote. pysyncobj reads the log constantly, so the live tail is mirrored in a list.

Durability, the part pysyncobj 0.3.17 lacks (it never fsyncs):
- Entries are written without sync and made durable in groups by `sync()`: the leader syncs
  right after it sends them (in parallel with the followers, Raft thesis 10.2.1) and before it
  counts its own copy toward a commit, a follower syncs before it acknowledges
  (coordinator.replication.syncobj_patch and .transport call it). One fsync per batch, not per
  entry.
- Term and vote are written in one synced batch before any vote message leaves the node
  (Raft Figure 2, "persistent state").
- A snapshot is stored in RocksDB in the same synced batch that compacts the log, so a crash
  leaves either the old snapshot and the old log or the new snapshot and the shorter log.
  The snapshot file in the data directory is only pysyncobj's transport copy; it is rewritten
  from RocksDB at start-up.
- Compacted entries are not deleted at once: they stay readable (the audit trail) until they
  are `audit_retention` entries behind the live log. Beside each applied entry the node stores
  what the state machine did with it (its outcome), so the audit trail can say it even after a
  snapshot install left a gap before it; outcomes go to the WAL with the next sync (losing the
  last few in a crash only leaves them blank).
- Unreadable metadata stops start-up with `DataDirError`; it never defaults to term 0 or to
  "no vote", which could make a node vote twice in one term.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pysyncobj.journal import Journal
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

from coordinator.replication.fatal import stop_node
from coordinator.replication.instruments import Failpoints
from coordinator.replication.settings import AUDIT_RETENTION_ENTRIES

log = logging.getLogger(__name__)

Entry = tuple[bytes, int, int]  # (command, index, term), as pysyncobj passes them around
FORMAT = b"1"
_ENTRY = b"L"
_OUTCOME = b"O"
_META_FORMAT = b"M:format"
_META_TERM_VOTE = b"M:term_vote"
_META_COMMIT = b"M:commit"
_META_FIRST = b"M:first"
_SNAPSHOT = b"S:snapshot"


class DataDirError(RuntimeError):
    """The data directory cannot be used as it is. The message names the problem."""


def entry_key(index: int) -> bytes:
    return _ENTRY + index.to_bytes(8, "big")


def outcome_key(index: int) -> bytes:
    return _OUTCOME + index.to_bytes(8, "big")


class RocksJournal(Journal):  # type: ignore[misc]
    """pysyncobj's journal over RocksDB. Not thread-safe: pysyncobj's tick thread owns it,
    except `sync()` which any thread may call."""

    def __init__(
        self,
        db_path: Path,
        snapshot_path: Path,
        *,
        audit_retention: int = AUDIT_RETENTION_ENTRIES,
        on_sync: Callable[[float], None] | None = None,
    ) -> None:
        self.path = db_path
        self.snapshot_path = snapshot_path
        self._audit_retention = audit_retention
        self._on_sync = on_sync
        self._sync_lock = threading.Lock()
        self._dirty = False
        self.failpoints: Failpoints | None = None  # chaos only: a slow disk (instruments.py)
        self._db = _open(db_path)
        self._synced = WriteOptions()
        self._synced.sync = True
        self._entries: list[Entry] = []
        self._load()

    # ------------------------------------------------------------------ loading

    def _load(self) -> None:
        fmt = self._db.get(_META_FORMAT)
        if fmt is None:
            if self._db.get(_META_TERM_VOTE) is not None or self._db.get(_META_FIRST) is not None:
                raise DataDirError(f"{self.path}: the Raft log has metadata but no format marker")
            self._db.put(_META_FORMAT, FORMAT, self._synced)
        elif fmt != FORMAT:
            raise DataDirError(
                f"{self.path}: unsupported Raft log format {fmt!r} (this release reads {FORMAT!r})"
            )
        try:
            raw = self._db.get(_META_TERM_VOTE)
            meta: dict[str, Any] = json.loads(raw) if raw is not None else {"term": 0, "vote": None}
            self._term = int(meta["term"])
            self._vote: str | None = meta["vote"]
            self._commit = int(self._db.get(_META_COMMIT) or b"1")
            first_raw = self._db.get(_META_FIRST)
            first = int(first_raw) if first_raw is not None else None
        except (ValueError, KeyError, TypeError) as exc:
            raise DataDirError(
                f"{self.path}: unreadable Raft metadata (term, vote or commit index): {exc}"
            ) from exc
        if first is not None:
            self._entries = list(self._read_entries(first))
            if self._entries and self._entries[0][1] != first:
                raise DataDirError(
                    f"{self.path}: the Raft log should start at entry {first} but starts at "
                    f"{self._entries[0][1]}"
                )
        self._materialize_snapshot_file()

    def _read_entries(self, first: int) -> Iterator[Entry]:
        it = self._db.iter()
        it.seek(entry_key(first))
        expected = first
        while it.valid():
            key = it.key()
            if not key.startswith(_ENTRY):
                break
            index = int.from_bytes(key[1:9], "big")
            if index != expected:
                raise DataDirError(
                    f"{self.path}: the Raft log has a gap: entry {expected} is missing before "
                    f"{index}"
                )
            value = it.value()
            if len(value) < 8:
                raise DataDirError(f"{self.path}: Raft log entry {index} is truncated")
            yield (value[8:], index, int.from_bytes(value[:8], "big"))
            expected += 1
            it.next()

    def _materialize_snapshot_file(self) -> None:
        """Makes the snapshot file pysyncobj loads at start-up equal to the durable snapshot."""
        stored = self._db.get(_SNAPSHOT)
        on_disk = self.snapshot_path.read_bytes() if self.snapshot_path.exists() else None
        if stored is None:
            if on_disk is not None:
                orphan = self.snapshot_path.with_name(
                    f"{self.snapshot_path.name}.orphaned-{time.time_ns()}"
                )
                log.warning(
                    "snapshot file %s is not in the Raft log's store; keeping it aside as %s",
                    self.snapshot_path,
                    orphan,
                )
                self.snapshot_path.rename(orphan)
            return
        if on_disk != stored:
            write_durably(self.snapshot_path, stored)

    # -------------------------------------------------------- pysyncobj Journal API

    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._entries:
            assert idx == self._entries[-1][1] + 1, (
                f"non-contiguous append: {idx} after {self._entries[-1][1]}"
            )
        self._write(lambda db: db.put(entry_key(idx), term.to_bytes(8, "big") + command))
        if not self._entries:
            self._write(lambda db: db.put(_META_FIRST, str(idx).encode()))
        self._entries.append((command, idx, term))
        self._dirty = True

    def clear(self) -> None:
        """pysyncobj installs a snapshot: store it and drop the uncommitted tail, in one synced
        batch."""
        snapshot = self._read_snapshot_file()
        batch = WriteBatch(raw_mode=True)
        batch.put(_SNAPSHOT, snapshot)
        if self._entries:
            keep_to = max(self._entries[0][1], min(self._commit, self._entries[-1][1]) + 1)
            batch.delete_range(entry_key(keep_to), entry_key(self._entries[-1][1] + 1))
        batch.delete(_META_FIRST)
        self._write_batch(batch)
        self._entries = []

    def deleteEntriesFrom(self, entryFrom: int) -> None:
        if entryFrom >= len(self._entries):
            return
        first_dropped, last = self._entries[entryFrom][1], self._entries[-1][1]
        self._write(lambda db: db.delete_range(entry_key(first_dropped), entry_key(last + 1)))
        self._write(lambda db: db.delete_range(outcome_key(first_dropped), outcome_key(last + 1)))
        del self._entries[entryFrom:]
        self._dirty = True

    def deleteEntriesTo(self, entryTo: int) -> None:
        """Log compaction after a snapshot: the snapshot and the new start of the log are written
        in one synced batch; compacted entries stay as the audit trail until past retention."""
        if entryTo <= 0:
            return
        new_first = self._entries[entryTo][1]
        batch = WriteBatch(raw_mode=True)
        batch.put(_SNAPSHOT, self._read_snapshot_file())
        batch.put(_META_FIRST, str(new_first).encode())
        prune_below = new_first - self._audit_retention
        if prune_below > 0:
            batch.delete_range(entry_key(0), entry_key(prune_below))
            batch.delete_range(outcome_key(0), outcome_key(prune_below))
        self._write_batch(batch)
        del self._entries[:entryTo]

    def __getitem__(self, item: int | slice) -> Entry | list[Entry]:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.close()

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:
        if raftCommitIndex != self._commit:
            self._commit = raftCommitIndex
            self._write(lambda db: db.put(_META_COMMIT, str(raftCommitIndex).encode()))

    def getRaftCommitIndex(self) -> int:
        return self._commit

    def setCurrentTerm(self, term: int, votedForNodeId: str | None) -> None:
        """Durable before it returns: pysyncobj sends the vote right after this call."""
        batch = WriteBatch(raw_mode=True)
        batch.put(_META_TERM_VOTE, json.dumps({"term": term, "vote": votedForNodeId}).encode())
        self._write_batch(batch)
        self._term, self._vote = term, votedForNodeId

    def getCurrentTerm(self) -> int:
        return self._term

    def getVotedForNodeId(self) -> str | None:
        return self._vote

    def onOneSecondTimer(self) -> None:
        pass

    # ------------------------------------------------------------- our own API

    def sync(self) -> None:
        """Makes every write so far durable (one WAL fsync), if there is anything to sync.

        When it returns, everything written before the call is durable, even if another
        thread's sync was in flight: that caller waits for it under the lock instead of taking
        the cleared flag for a finished fsync. `_dirty` is cleared before the flush so that a
        write racing the flush marks the log dirty again."""
        with self._sync_lock:
            if not self._dirty:
                return
            self._dirty = False
            started = time.perf_counter()
            if self.failpoints is not None and self.failpoints.fsync_delay_s:
                time.sleep(self.failpoints.fsync_delay_s)
            try:
                self._db.flush_wal(True)
            except Exception as exc:  # a failed fsync leaves nothing we could safely acknowledge
                stop_node(f"cannot sync the Raft log at {self.path}: {exc}")
            if self._on_sync is not None:
                self._on_sync(time.perf_counter() - started)

    @property
    def first_index(self) -> int:
        return self._entries[0][1] if self._entries else 0

    @property
    def last_index(self) -> int:
        return self._entries[-1][1] if self._entries else 0

    @property
    def last_term(self) -> int:
        return self._entries[-1][2] if self._entries else 0

    def term_at(self, index: int) -> int | None:
        """The term of the live entry at `index`, or None if it is not in the live log."""
        if not self._entries:
            return None
        position = index - self._entries[0][1]
        if 0 <= position < len(self._entries):
            return self._entries[position][2]
        return None

    def entries(self) -> list[Entry]:
        """The live log (a copy)."""
        return list(self._entries)

    def record_outcome(self, index: int, outcome: str) -> None:
        """What the state machine did with the entry at `index` (tick thread, when it applies)."""
        self._write(lambda db: db.put(outcome_key(index), outcome.encode()))

    def outcome_at(self, index: int) -> str:
        """The stored outcome of the entry at `index`, "" if none (not applied here, or pruned)."""
        value = self._db.get(outcome_key(index))
        return bytes(value).decode() if value is not None else ""

    def stored_snapshot(self) -> bytes | None:
        value = self._db.get(_SNAPSHOT)
        return bytes(value) if value is not None else None

    def archived_entries(self, from_index: int = 0) -> Iterator[Entry]:
        """Every entry still stored from `from_index` on: compacted ones (the audit trail) then
        the live log. A node that installed a snapshot from the leader has a gap before it."""
        it = self._db.iter()
        it.seek(entry_key(from_index))
        while it.valid() and it.key().startswith(_ENTRY):
            value = it.value()
            yield (
                value[8:],
                int.from_bytes(it.key()[1:9], "big"),
                int.from_bytes(value[:8], "big"),
            )
            it.next()

    def close(self) -> None:
        if self._db is not None:
            try:
                self._dirty = True
                self.sync()
            finally:
                self._db.close()
                self._db = None  # type: ignore[assignment]

    # ------------------------------------------------------------------ helpers

    def _read_snapshot_file(self) -> bytes:
        try:
            return self.snapshot_path.read_bytes()
        except OSError as exc:
            stop_node(
                f"the snapshot pysyncobj just wrote is unreadable at {self.snapshot_path}: {exc}"
            )

    def _write(self, operation: Callable[[Rdict], object]) -> None:
        try:
            operation(self._db)
        except Exception as exc:
            stop_node(f"cannot write the Raft log at {self.path}: {exc}")

    def _write_batch(self, batch: WriteBatch) -> None:
        started = time.perf_counter()
        try:
            self._db.write(batch, self._synced)
        except Exception as exc:
            stop_node(f"cannot write the Raft log at {self.path}: {exc}")
        if self._on_sync is not None:
            self._on_sync(time.perf_counter() - started)


def _open(path: Path) -> Rdict:
    existing = path.exists() and any(path.iterdir())
    if existing and not (path / "CURRENT").exists():
        raise DataDirError(
            f"{path} exists but is not a RocksDB Raft log (no CURRENT file); refusing to touch it"
        )
    options = Options(raw_mode=True)
    options.create_if_missing(not existing)
    options.set_paranoid_checks(True)
    try:
        path.mkdir(parents=True, exist_ok=True)
        return Rdict(str(path), options)
    except Exception as exc:
        raise DataDirError(f"cannot open the Raft log at {path}: {exc}") from exc


def write_durably(path: Path, data: bytes) -> None:
    """Writes a file so that it survives a power cut: temp file, fsync, rename, fsync the
    directory."""
    tmp = path.with_name(path.name + ".writing")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)

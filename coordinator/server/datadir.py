"""A node's data directory as an identity: which node it belongs to, which cluster, and whether
it has served as a voter. `node.json` holds that, written durably (fsync of file and directory).

Start-up refuses, with a message naming the problem, a directory that belongs to another node,
is not a coordinator data directory, or is unreadable; it never overwrites data. It also refuses
to create a fresh directory for a voter unless told this is the first start of a new cluster
(`--bootstrap`) or a fresh learner (`join = true`): a voter whose directory was emptied would
otherwise come back at term 0 with no vote and no log, vote for any candidate, and count toward
majorities for entries it no longer has (issue 8, defect 9).

The cluster id is generated when a cluster is founded: a digest of its founding voters (ids and
Raft addresses), so the founders agree on it without talking. A learner learns it from a peer
before it joins. It is checked on every Raft connection and in every snapshot (replication).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from coordinator.replication.journal import DataDirError, write_durably

IDENTITY_FILE = "node.json"


def prepare(data_dir: Path, node_id: str, *, bootstrap: bool, join: bool) -> None:
    """Creates a new data directory (only when allowed), or checks that an existing one belongs
    to `node_id`. Raises DataDirError naming the problem."""
    identity = data_dir / IDENTITY_FILE
    try:
        if data_dir.exists():
            if not data_dir.is_dir():
                raise DataDirError(f"data_dir {data_dir} is not a directory")
            entries = [p.name for p in data_dir.iterdir()]
            if entries and not identity.exists():
                raise DataDirError(
                    f"data_dir {data_dir} is not empty and has no {IDENTITY_FILE}: it is not a "
                    "coordinator data directory; refusing to write into it"
                )
        if identity.exists():
            owner = read(data_dir).get("node_id")
            if owner != node_id:
                raise DataDirError(
                    f"data_dir {data_dir} belongs to node {owner!r}, not {node_id!r}"
                )
            return
        if not (bootstrap or join):
            raise DataDirError(
                f"data_dir {data_dir} is empty or missing, so this voter would start with no log "
                "and no vote. If this is the first start of a new cluster, start it once with "
                "--bootstrap. If this node lost its data, do not: remove it from the cluster and "
                "add a fresh node with a new id (operations guide, 'A data directory lost for "
                "good')."
            )
        data_dir.mkdir(parents=True, exist_ok=True)
        update(data_dir, node_id=node_id, format=1)
    except OSError as exc:
        problem = unusable(data_dir) or exc.strerror
        raise DataDirError(f"data_dir {data_dir} cannot be created or written: {problem}") from exc


def unusable(data_dir: Path) -> str | None:
    """Why a node could not create or write `data_dir`, or None if it can (for `config check`,
    and to name the problem when creating it fails)."""
    if data_dir.exists():
        if not data_dir.is_dir():
            return f"{data_dir} is not a directory"
        return None if os.access(data_dir, os.W_OK | os.X_OK) else f"{data_dir} cannot be written"
    ancestor = next((p for p in data_dir.parents if p.exists()), None)
    if ancestor is None or not ancestor.is_dir():
        return f"{ancestor} is not a directory, so {data_dir} cannot be created below it"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} cannot be written, so {data_dir} cannot be created"
    return None


def read(data_dir: Path) -> dict[str, Any]:
    """The identity document; {} if there is none. Raises DataDirError if it is corrupt."""
    path = data_dir / IDENTITY_FILE
    if not path.exists():
        return {}
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, dict) or not isinstance(document.get("node_id"), str):
            raise ValueError("no node_id")
        return document
    except (OSError, ValueError) as exc:
        raise DataDirError(f"{path} is corrupt ({exc}); refusing to start") from exc


def update(data_dir: Path, **fields: Any) -> None:
    document = {**read(data_dir), **fields}
    write_durably(data_dir / IDENTITY_FILE, (json.dumps(document, sort_keys=True) + "\n").encode())


def mark_voter(data_dir: Path, node_id: str) -> None:
    """Records that this node is a voter, so that a restart does not rejoin as a learner."""
    update(data_dir, node_id=node_id, format=1, voter=True)


def is_voter(data_dir: Path) -> bool:
    return bool(read(data_dir).get("voter"))


def founding_cluster_id(voters: Iterable[tuple[str, str]]) -> str:
    """The id of a cluster founded by `voters` ((node_id, raft_address) pairs)."""
    canonical = "\n".join(sorted(f"{node_id}@{address}" for node_id, address in voters))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]

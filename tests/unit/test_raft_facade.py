"""pysyncobj stays behind the facade (coordinator/replication/raft.py): only the replication
modules that adapt it import it, nothing else imports those adapters, and none of pysyncobj's
names (`otherNodes`, `raftCurrentTerm`, `_SyncObj__*`, ...) appear anywhere else."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("coordinator", "chaos")
ADAPTERS = {
    "coordinator/replication/syncobj_patch.py",
    "coordinator/replication/transport.py",
    "coordinator/replication/peer_wire.py",  # pysyncobj's TcpConnection, sealed
    "coordinator/replication/journal.py",
    "coordinator/replication/proposals.py",
}
INTERNAL = (
    "coordinator.replication.syncobj_patch",
    "coordinator.replication.transport",
    "coordinator.replication.peer_wire",
)
PYSYNCOBJ_NAMES = re.compile(
    r"\b(otherNodes|readonlyNodes|selfNode|hasQuorum|raftCurrentTerm|raftCommitIndex|"
    r"raftLastApplied|isNodeConnected|destroy_synchronous|_getLeader|_isLeader|"
    r"addNodeToCluster|removeNodeFromCluster|TCPNode)\b|_SyncObj__"
)


def sources() -> dict[str, str]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith("coordinator/v1/"):
                found[relative] = path.read_text()
    return found


def imports(source: str) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module or "")
    return names


def test_only_the_adapters_import_pysyncobj() -> None:
    importers = {
        path
        for path, source in sources().items()
        if any(n == "pysyncobj" or n.startswith("pysyncobj.") for n in imports(source))
    }
    assert importers <= ADAPTERS, sorted(importers - ADAPTERS)


def test_nothing_outside_replication_imports_the_adapters() -> None:
    offending = {
        path: sorted(n for n in imports(source) if n in INTERNAL)
        for path, source in sources().items()
        if not path.startswith("coordinator/replication/")
    }
    assert {p: names for p, names in offending.items() if names} == {}


def test_no_pysyncobj_name_appears_outside_replication() -> None:
    offending = {
        path: sorted(set(m.group(0) for m in PYSYNCOBJ_NAMES.finditer(source)))
        for path, source in sources().items()
        if not path.startswith("coordinator/replication/")
    }
    assert {p: names for p, names in offending.items() if names} == {}


def test_the_checks_see_the_code_they_guard() -> None:
    seen = sources()
    assert {
        "coordinator/server/services.py",
        "coordinator/server/node.py",
        "coordinator/metrics.py",
        "chaos/faults.py",
        *ADAPTERS,
    } <= set(seen)
    assert PYSYNCOBJ_NAMES.search(seen["coordinator/replication/syncobj_patch.py"])

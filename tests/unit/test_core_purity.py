"""The core is pure: it imports the standard library's deterministic modules only."""

from __future__ import annotations

import ast
from pathlib import Path

import coordinator.core

ALLOWED = {
    "__future__",
    "collections",
    "collections.abc",
    "dataclasses",
    "decimal",
    "enum",
    "hashlib",
    "json",
    "typing",
}


def core_imports() -> dict[str, set[str]]:
    root = Path(coordinator.core.__file__).parent
    found: dict[str, set[str]] = {}
    for path in sorted(root.glob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                names.add(node.module or "")
        found[path.name] = names
    return found


def test_core_imports_only_the_standard_library_and_itself() -> None:
    offending = {
        module: sorted(
            n for n in names if n not in ALLOWED and not n.startswith("coordinator.core")
        )
        for module, names in core_imports().items()
    }
    assert {m: bad for m, bad in offending.items() if bad} == {}


def test_the_purity_check_sees_every_core_module() -> None:
    assert {"state.py", "lease.py", "positions.py", "snapshot_codec.py"} <= set(core_imports())

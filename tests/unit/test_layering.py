"""Layers import downwards only: the chaos harness judges the coordinator through its public
edges (the client, the wire rows, the gRPC API), never through the operator CLI, whose output
and exit codes are for people and scripts (the rows both print live in coordinator/wire/rows.py)."""

from __future__ import annotations

import ast
from pathlib import Path

import chaos


def imported_modules(source: str) -> set[str]:
    """Every module a source file imports, `from package import name` counted as package.name
    too (so `from coordinator import cli` is seen)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_cli(module: str) -> bool:
    """coordinator.cli and its modules, and the flat modules it was once split into
    (coordinator.cli_cluster); not coordinator.client."""
    top, _, rest = module.partition(".")
    part = rest.partition(".")[0]
    return top == "coordinator" and (part == "cli" or part.startswith("cli_"))


def chaos_imports() -> dict[str, set[str]]:
    root = Path(chaos.__file__).parent
    return {path.name: imported_modules(path.read_text()) for path in sorted(root.glob("*.py"))}


def test_chaos_imports_nothing_from_the_cli() -> None:
    offending = {
        module: sorted(n for n in names if is_cli(n)) for module, names in chaos_imports().items()
    }
    assert {m: bad for m, bad in offending.items() if bad} == {}


def test_the_layering_check_sees_every_chaos_module() -> None:
    assert {"runner.py", "checker.py", "faults.py", "engine.py"} <= set(chaos_imports())


def test_the_layering_check_tells_the_cli_from_the_client() -> None:
    caught = [
        source
        for source in (
            "import coordinator.cli",
            "from coordinator.cli.operator import table",
            "from coordinator import cli",
            "from coordinator.cli_cluster import order_dict",
            "from coordinator.client import Refused",
            "import coordinator.client",
            "from coordinator import client",
        )
        if any(is_cli(n) for n in imported_modules(source))
    ]
    assert caught == [
        "import coordinator.cli",
        "from coordinator.cli.operator import table",
        "from coordinator import cli",
        "from coordinator.cli_cluster import order_dict",
    ]

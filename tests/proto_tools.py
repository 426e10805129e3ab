"""Finds and runs the tools that check and generate code from proto/ (buf, protoc plugins, Go),
as installed by scripts/setup into .tools/bin. A missing tool fails the test that needs it;
nothing is skipped. Tests only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOOLS_BIN = ROOT / ".tools" / "bin"


def tool(name: str) -> str:
    """The path of `name`: .tools/bin first, then PATH. Fails the test when it is not there."""
    installed = TOOLS_BIN / name
    if installed.is_file() and os.access(installed, os.X_OK):
        return str(installed)
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is in neither .tools/bin nor PATH (scripts/setup installs buf and the protoc "
            "plugins there; it needs Go on PATH)"
        )
    return found


def tools_env() -> dict[str, str]:
    """The environment for buf and go: .tools/bin first on PATH (buf finds its protoc plugins
    there), and no module downloads, which scripts/setup has already made."""
    return {
        **os.environ,
        "PATH": f"{TOOLS_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "GOPROXY": "off",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
    }


def run(
    args: list[str], cwd: Path = ROOT, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs one tool to completion (bounded by `timeout_s`) and returns what it did."""
    return subprocess.run(
        args, cwd=cwd, env=tools_env(), capture_output=True, text=True, timeout=timeout_s
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The tool's stdout, after asserting that it exited 0."""
    assert result.returncode == 0, (
        f"{result.args} exited {result.returncode}\nstdout: {result.stdout}\n"
        f"stderr: {result.stderr}"
    )
    return result.stdout

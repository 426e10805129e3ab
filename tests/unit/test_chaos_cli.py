"""`python -m chaos run` with bad input (issue 14, item 5): one clear line, exit code 2, and
nothing created (it used to print a traceback and create chaos-reports/ first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def chaos(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", "run", "--out", str(tmp_path / "reports"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--scenario", "no-such-fault"], {}, "no-such-fault"),
        (
            ["--scenario", "mixed", "--duration", "1"],
            {"TOXIPROXY_SERVER": "/nonexistent/toxiproxy"},
            "/nonexistent/toxiproxy",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_creates_nothing(
    tmp_path: Path, args: list[str], env: dict[str, str], named: str
) -> None:
    result = chaos(tmp_path, *args, **env)
    assert result.returncode == 2, result
    assert "Traceback" not in result.stderr and named in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "reports").exists()

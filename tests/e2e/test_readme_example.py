"""The README's client-library example runs as written (issue 14, item 6): `examples/engine.py`
against a real local cluster, and the README shows that file's code unchanged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster_calls import MakeCluster

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "engine.py"


def readme_snippet() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## The client library in ten lines") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("```\n", start)].splitlines()


def test_the_readme_shows_the_example_file_unchanged() -> None:
    lines = EXAMPLE.read_text().splitlines()
    marked = lines[lines.index("# README: start") + 1 : lines.index("# README: end")]
    snippet = readme_snippet()
    first = next(i for i, line in enumerate(snippet) if line.startswith("client = "))
    imports, code = snippet[:first], snippet[first:]
    assert code == marked, "README.md's client snippet differs from examples/engine.py"
    assert all(line in lines for line in imports if line), imports


def test_the_example_runs_against_a_local_cluster(make_cluster: MakeCluster) -> None:
    cluster = make_cluster().start()
    env = {**os.environ, "COORDINATOR_CLUSTER": ",".join(cluster.addresses())}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert result.stdout.splitlines() == [
        "active at epoch 1 with 0 open orders",
        "ord-1: FILLED, 0.5 in 1 fill(s)",
        "stop trading: resigned",
    ], result.stdout

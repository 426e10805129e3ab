"""The engine library stands alone (issue 9): importing `coordinator.client` (and its asyncio
twin) in a fresh interpreter loads neither the server, nor replication, nor their dependencies
(pysyncobj, RocksDB), so an engine host needs none of them."""

from __future__ import annotations

import json
import subprocess
import sys

FORBIDDEN = (
    "pysyncobj",
    "rocksdict",
    "coordinator.server",
    "coordinator.replication",
    "coordinator.cli",
    "coordinator.localcluster",
    "coordinator.config",
    "chaos",
)


def test_importing_the_engine_library_loads_no_server_module() -> None:
    program = (
        "import json, sys; import coordinator.client, coordinator.client.aio; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = json.loads(
        subprocess.run(
            [sys.executable, "-c", program], check=True, capture_output=True, text=True, timeout=60
        ).stdout
    )
    offending = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert offending == [], f"importing coordinator.client loaded {offending}"
    assert "coordinator.client.sync" in loaded and "grpc" in loaded  # the check saw the real import

"""The chaos suite's handle on Toxiproxy: start the real server, drive its HTTP API, and inject
network faults that always heal.

Responsibility: turn fault names (`cut`, `blackhole`, `latency`, `bandwidth`, `slicer`,
`reset_peer`) into Toxiproxy API calls on 127.0.0.1, and undo them on exit from the `with` block,
even when the block raised. It never decides *which* fault to inject or *when*: that belongs to
the nemesis that calls it. It never touches a process it did not start, and never stops one by
name.

* `client`: the typed, timeout-bounded HTTP API client, its errors and values, and the count of
  cut holds on each proxy (`hold_cut` / `release_cut`).
* `server`: the `toxiproxy-server` process, started on a free port and stopped by PID.
* `faults`: the faults, each a context manager that heals on exit.
"""

from chaos.toxiproxy.client import (
    LOCALHOST,
    Proxy,
    Stream,
    Toxic,
    ToxiproxyApiError,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyUnavailable,
)
from chaos.toxiproxy.faults import (
    BOTH_STREAMS,
    bandwidth,
    blackhole,
    cut,
    latency,
    reset_peer,
    slicer,
)
from chaos.toxiproxy.server import (
    INSTALL_HINT,
    ToxiproxyServer,
    find_server_binary,
    free_port,
    repository_root,
)

__all__ = [
    "BOTH_STREAMS",
    "INSTALL_HINT",
    "LOCALHOST",
    "Proxy",
    "Stream",
    "Toxic",
    "ToxiproxyApiError",
    "ToxiproxyClient",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyNotFound",
    "ToxiproxyServer",
    "ToxiproxyUnavailable",
    "bandwidth",
    "blackhole",
    "cut",
    "find_server_binary",
    "free_port",
    "latency",
    "repository_root",
    "reset_peer",
    "slicer",
]

"""The `toxiproxy-server` process the chaos suite runs: find the binary, start it on a free port
on 127.0.0.1, wait until its API answers, and stop it by PID.

Responsibility: the lifecycle of one server process and its log. It never touches a process it
did not start, and never stops one by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from chaos.toxiproxy.client import (
    LOCALHOST,
    ToxiproxyApiError,
    ToxiproxyClient,
    ToxiproxyUnavailable,
)
from coordinator.ports import free_ports

INSTALL_HINT = (
    "run scripts/install-toxiproxy to build it into .tools/bin (or set $TOXIPROXY_SERVER)"
)


def repository_root() -> Path | None:
    """The nearest directory above this file that holds `pyproject.toml`, if any."""
    for directory in Path(__file__).resolve().parents:
        if (directory / "pyproject.toml").is_file():
            return directory
    return None


def find_server_binary() -> Path:
    """`$TOXIPROXY_SERVER` if set, else `<repository root>/.tools/bin/toxiproxy-server`.

    Raises `ToxiproxyUnavailable` with the install hint when it is missing or not executable:
    the chaos suite must fail, never skip, without it.
    """
    override = os.environ.get("TOXIPROXY_SERVER")
    if override:
        candidate, source = Path(override), "$TOXIPROXY_SERVER"
    else:
        root = repository_root()
        if root is None:
            raise ToxiproxyUnavailable(
                f"toxiproxy-server: no pyproject.toml above {__file__}; {INSTALL_HINT}"
            )
        candidate, source = (
            root / ".tools" / "bin" / "toxiproxy-server",
            "the repository's .tools/bin",
        )
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise ToxiproxyUnavailable(
            f"toxiproxy-server not found or not executable at {candidate} (from {source}); "
            f"{INSTALL_HINT}"
        )
    return candidate


def free_port() -> int:
    """A port nothing holds on 127.0.0.1 right now, outside the kernel's ephemeral range."""
    return free_ports(1, LOCALHOST)[0]


class ToxiproxyServer:
    """One `toxiproxy-server` subprocess on 127.0.0.1, tracked and stopped by its PID.

    `start()` returns once `GET /version` answers (or raises `ToxiproxyUnavailable` with the tail
    of the server's log); `stop()` sends SIGTERM to that PID, then SIGKILL after
    `stop_timeout_s`, and may be called any number of times. Without a `port`, a free one is
    picked, and picked again (up to 3 times) if another process took it before the server bound
    it. The server logs to `log_path`, or to a temporary file that `stop()` removes.
    """

    START_ATTEMPTS_ON_FREE_PORT = 3
    READY_POLL_INTERVAL_S = 0.02

    def __init__(
        self,
        port: int | None = None,
        *,
        binary: Path | None = None,
        log_path: Path | None = None,
        log_level: str = "info",
        seed: int | None = None,
        start_timeout_s: float = 5.0,
        stop_timeout_s: float = 3.0,
    ) -> None:
        self.binary = binary if binary is not None else find_server_binary()
        self.host = LOCALHOST
        self.port = port if port is not None else 0
        self.pid: int | None = None
        self._requested_port = port
        self._log_path = log_path
        self._log_is_temporary = log_path is None
        self._log_level = log_level
        self._seed = seed
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this launch's output starts in a log that may be appended to

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, timeout_s: float = 2.0) -> ToxiproxyClient:
        assert self.port != 0, "the server has not been started"
        return ToxiproxyClient(self.host, self.port, timeout_s)

    def start(self) -> ToxiproxyServer:
        assert self._process is None, f"toxiproxy-server already running as PID {self.pid}"
        attempts = 1 if self._requested_port is not None else self.START_ATTEMPTS_ON_FREE_PORT
        for attempt in range(1, attempts + 1):
            self.port = self._requested_port if self._requested_port is not None else free_port()
            self._launch()
            try:
                self._await_ready()
                return self
            except _ApiPortTaken:
                self.stop()
                # Another process bound the port between free_port() and the server: pick again.
                if attempt == attempts:
                    raise
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            # Popen signals exactly this PID, and refuses once the PID has been reaped, so a
            # recycled PID can never be hit.
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self._stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait(timeout=self._stop_timeout_s)
        if self._log_is_temporary and self._log_path is not None:
            self._log_path.unlink(missing_ok=True)
            self._log_path = None

    def log_tail(self, max_bytes: int = 2000) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no log)"
        with self._log_path.open("rb") as log:
            log.seek(max(0, self._log_path.stat().st_size - max_bytes))
            return log.read().decode("utf-8", "replace")

    def _log_since_launch(self) -> bytes:
        assert self._log_path is not None
        with self._log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read()

    def __enter__(self) -> ToxiproxyServer:
        return self if self._process is not None else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self) -> None:
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="toxiproxy-server-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        command = [str(self.binary), "-host", self.host, "-port", str(self.port)]
        if self._seed is not None:
            command += ["-seed", str(self._seed)]
        with self._log_path.open("ab") as log:
            self._log_offset = log.tell()
            # The child keeps its own copy of the descriptor; ours can close at once.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "LOG_LEVEL": self._log_level},
            )
        self.pid = self._process.pid

    def _await_ready(self) -> None:
        probe = ToxiproxyClient(self.host, self.port, timeout_s=0.5)
        deadline = time.monotonic() + self._start_timeout_s
        max_polls = int(self._start_timeout_s / self.READY_POLL_INTERVAL_S) + 1
        last: object = None
        for _ in range(max_polls):
            self._raise_if_failed()
            try:
                probe.version()
            except ToxiproxyApiError as exc:
                last = exc
            else:
                # Something answered. Unless our server failed to bind meanwhile, it was ours and
                # not a squatter on the port (which could only have bound it after free_port()).
                self._raise_if_failed()
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(self.READY_POLL_INTERVAL_S)
        raise ToxiproxyUnavailable(
            f"toxiproxy-server (PID {self.pid}) did not answer GET {self.url}/version within "
            f"{self._start_timeout_s:.1f}s; last: {last}; log tail:\n{self.log_tail()}"
        )

    def _raise_if_failed(self) -> None:
        process = self._process
        assert process is not None
        if process.poll() is not None:
            raise ToxiproxyUnavailable(
                f"toxiproxy-server (PID {self.pid}) exited with {process.returncode} before "
                f"answering on {self.url}; log tail:\n{self.log_tail()}"
            )
        # When its API port is taken, the server logs the error and keeps running without an API
        # (v2.12.0 does not exit), so the log is the only place that says so.
        if self._log_path is not None and _API_FAILED_MARK in self._log_since_launch():
            raise _ApiPortTaken(
                f"toxiproxy-server (PID {self.pid}) could not serve its API on {self.url}; log "
                f"tail:\n{self.log_tail()}"
            )


class _ApiPortTaken(ToxiproxyUnavailable):
    """The server started but could not listen on its API port (another process holds it)."""


_API_FAILED_MARK = b'"message":"Server finished with error"'

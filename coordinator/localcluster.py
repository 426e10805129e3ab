"""A cluster of real coordinator node processes on 127.0.0.1, for the demo, tests, benchmarks
and the chaos suite.

Each node owns one `ManagedProcess`, which starts, signals and stops it by PID (never by
name); `close()` (or leaving the `with` block) stops them all and, unless asked to keep it,
removes the directory. Each node logs to `<base>/<node_id>/node.log`; `log_tail` shows the end
of it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc

from coordinator.client import CoordinatorClient, RetryPolicy
from coordinator.ports import free_ports
from coordinator.v1 import admin_pb2, admin_pb2_grpc

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Polls `predicate` until it returns something truthy; raises TimeoutError naming `what`
    and the last value seen (or the last exception) when `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while True:
        try:
            value = predicate()
            if value:
                return value
            last = value
        except Exception as exc:
            last = exc
        if time.monotonic() >= deadline:
            raise TimeoutError(
                f"timed out after {timeout_s:.1f}s waiting for {what}; last seen: {last!r}"
            )
        time.sleep(interval_s)


def holds_for(
    predicate: Callable[[], object],
    duration_s: float,
    what: str,
    interval_s: float = 0.05,
    *,
    describe: Callable[[], str] | None = None,
) -> None:
    """Polls `predicate` every `interval_s` for the whole of `duration_s` (once at the start and
    once at or after the end at least); raises AssertionError naming `what`, how far into the
    window it broke and the value seen (and `describe()`, the state at that moment, if given),
    the first time it returns something falsy. An exception from the predicate propagates: a
    check that could not be made has not held.

    For "nothing happens" checks: a single look after a sleep misses a change that happened and
    was undone within the window, and reports it later than it happened."""
    started = time.monotonic()
    deadline = started + duration_s
    while True:
        now = time.monotonic()
        value = predicate()
        if not value:
            detail = f"; {describe()}" if describe is not None else ""
            raise AssertionError(
                f"{what} stopped holding {now - started:.2f}s into a {duration_s:.2f}s window; saw "
                f"{value!r}{detail}"
            )
        if now >= deadline:
            return
        time.sleep(min(interval_s, deadline - now))


class ManagedProcess:
    """One child process (a coordinator node, or an engine of the demo or the chaos suite),
    started in its own session with its output appended to `log_path`, and signalled, stopped and
    reaped by its PID, never by name. Remembers whether it was paused, so that stopping resumes
    it first."""

    def __init__(self, args: list[str], log_path: Path) -> None:
        self.args = args
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.paused = False

    @property
    def pid(self) -> int | None:
        """The PID of the latest start, or None before the first."""
        return self.process.pid if self.process is not None else None

    def start(self, extra_args: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        """Runs `args` followed by `extra_args`, with `env` as its whole environment (this
        process's environment when None)."""
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [*self.args, *extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        self.paused = False

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_status(self) -> int | None:
        """The exit status once it has exited (minus the signal number if a signal ended it);
        None while it runs and before the first start."""
        return self.process.poll() if self.process is not None else None

    def wait(self, timeout_s: float) -> int:
        """Waits until it exits and returns its exit status; raises `subprocess.TimeoutExpired`
        if it still runs after `timeout_s`. Precondition: started."""
        assert self.process is not None, f"{self.args[0]} was never started"
        return self.process.wait(timeout_s)

    def signal(self, signum: signal.Signals) -> None:
        """Sends `signum` if it runs (a process that exited is left alone, so a reused PID is
        never hit: the PID stays ours until we reap it)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signum)
            if signum in (signal.SIGSTOP, signal.SIGCONT):
                self.paused = signum == signal.SIGSTOP

    def kill(self) -> None:
        """SIGKILL, and reap."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, timeout_s: float = 15.0) -> int | None:
        """SIGTERM (after SIGCONT if paused), then SIGKILL if it does not exit within `timeout_s`.
        Returns the exit status, or None if it was never started."""
        if self.running():
            if self.paused:
                self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.exit_status()

    def log_tail(self, lines: int = 30) -> str:
        """The last `lines` lines of its log, or "(no log)" when there is none yet."""
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class LocalNode:
    """One coordinator node of a `LocalCluster`: its addresses, its directory (config, data, log)
    and its process."""

    node_id: str
    grpc_address: str
    raft_address: str
    directory: Path
    extra_config: str = ""
    # a voter's first start bootstraps its data directory; later ones must not
    started: bool = False
    process: ManagedProcess = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.process = ManagedProcess(
            [sys.executable, "-m", "coordinator", "serve", "--config", str(self.config_path)],
            self.log_path,
        )

    @property
    def config_path(self) -> Path:
        return self.directory / "node.toml"

    @property
    def log_path(self) -> Path:
        return self.directory / "node.log"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def running(self) -> bool:
        return self.process.running()

    def start(self, env: Mapping[str, str]) -> None:
        """Starts `coordinator serve` on its config, with `--bootstrap` on the first start only."""
        self.process.start([] if self.started else ["--bootstrap"], env)
        self.started = True


@dataclass
class LocalCluster:
    """`size` nodes named dc1, dc2, ... with fresh ports under `base_dir` (a temp dir if None)."""

    size: int = 3
    base_dir: Path | None = None
    timing: Mapping[str, int | str] = field(default_factory=dict)
    keep: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    nodes: dict[str, LocalNode] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._owns_dir = self.base_dir is None
        self.base = Path(self.base_dir or tempfile.mkdtemp(prefix="coordinator-cluster-"))
        self.base.mkdir(parents=True, exist_ok=True)
        self.secret_file = self.base / "cluster.secret"
        if not self.secret_file.exists():
            self.secret_file.write_text(secrets.token_hex(24) + "\n")
            self.secret_file.chmod(0o600)
        ports = free_ports(2 * self.size)
        for i in range(self.size):
            node_id = f"dc{i + 1}"
            self.nodes[node_id] = LocalNode(
                node_id,
                f"127.0.0.1:{ports[2 * i]}",
                f"127.0.0.1:{ports[2 * i + 1]}",
                self.base / node_id,
            )
        self._channels: dict[str, grpc.Channel] = {}

    # ------------------------------------------------------------------- configs

    def add_node_slot(self) -> LocalNode:
        """Reserves one more node (ports, directory) without starting it or adding it to Raft."""
        node_id = f"dc{len(self.nodes) + 1}"
        grpc_port, raft_port = free_ports(2)
        node = LocalNode(
            node_id, f"127.0.0.1:{grpc_port}", f"127.0.0.1:{raft_port}", self.base / node_id
        )
        self.nodes[node_id] = node
        return node

    def write_config(
        self,
        node: LocalNode,
        peers: list[LocalNode] | None = None,
        dial: Mapping[str, str] | None = None,
        raft_advertise: str | None = None,
    ) -> Path:
        peers = peers if peers is not None else [n for n in self.nodes.values() if n is not node]
        lines = [
            "[node]",
            f'id = "{node.node_id}"',
            f'grpc_address = "{node.grpc_address}"',
            f'raft_address = "{node.raft_address}"',
            f'data_dir = "{node.data_dir}"',
            f'cluster_secret_file = "{self.secret_file}"',
        ]
        if raft_advertise:
            lines.append(f'raft_advertise = "{raft_advertise}"')
        lines.append(node.extra_config)
        for peer in peers:
            lines += [
                "",
                "[[peers]]",
                f'id = "{peer.node_id}"',
                f'raft_address = "{peer.raft_address}"',
                f'grpc_address = "{peer.grpc_address}"',
            ]
        lines += ["", "[timing]"] + [
            f'{k} = "{v}"' if isinstance(v, str) else f"{k} = {v}" for k, v in self.timing.items()
        ]
        if dial:
            lines += ["", "[dial]"] + [f'"{k}" = "{v}"' for k, v in dial.items()]
        node.directory.mkdir(parents=True, exist_ok=True)
        node.config_path.write_text("\n".join(lines) + "\n")
        return node.config_path

    # ----------------------------------------------------------------- processes

    def start(self, wait_for_leader_s: float = 30.0) -> LocalCluster:
        for node in self.nodes.values():
            if not node.config_path.exists():
                self.write_config(node)
        for node in self.nodes.values():
            self.start_node(node.node_id)
        if wait_for_leader_s:
            self.wait_serving(wait_for_leader_s)
            self.wait_for_leader(wait_for_leader_s)
        return self

    def wait_serving(self, timeout_s: float = 30.0) -> None:
        """Waits until every running node answers Status; fails early if one exits."""

        def all_up() -> bool:
            for node_id, node in self.nodes.items():
                exit_status = node.process.exit_status()
                if exit_status is not None:
                    raise RuntimeError(
                        f"node {node_id} exited with {exit_status}:\n{self.log_tail(node_id, 15)}"
                    )
            return len(self.statuses()) == sum(1 for n in self.nodes.values() if n.running())

        wait_until(all_up, timeout_s, "every node to serve gRPC")

    def start_node(self, node_id: str) -> LocalNode:
        node = self.nodes[node_id]
        if node.running():
            return node
        if not node.config_path.exists():
            self.write_config(node)
        node.start({**os.environ, "PYTHONUNBUFFERED": "1", **self.env})
        return node

    def signal(self, node_id: str, signum: signal.Signals) -> None:
        self.nodes[node_id].process.signal(signum)

    def kill(self, node_id: str) -> None:
        """SIGKILL, and reap."""
        self.nodes[node_id].process.kill()
        self._drop_channel(node_id)

    def pause(self, node_id: str) -> None:
        self.signal(node_id, signal.SIGSTOP)

    def resume(self, node_id: str) -> None:
        self.signal(node_id, signal.SIGCONT)

    def stop_node(self, node_id: str, timeout_s: float = 10.0) -> int | None:
        """SIGTERM (graceful), then SIGKILL if it does not exit in time. Returns the exit status,
        or None if the node was never started."""
        process = self.nodes[node_id].process
        if process.pid is None:
            return None
        exit_status = process.stop(timeout_s)
        self._drop_channel(node_id)
        return exit_status

    def close(self) -> None:
        for node_id in list(self.nodes):
            self.stop_node(node_id, timeout_s=5.0)
        for channel in self._channels.values():
            channel.close()
        self._channels.clear()
        if self._owns_dir and not self.keep:
            shutil.rmtree(self.base, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --------------------------------------------------------------------- gRPC

    def channel(self, node_id: str) -> grpc.Channel:
        if node_id not in self._channels:
            self._channels[node_id] = grpc.insecure_channel(self.nodes[node_id].grpc_address)
        return self._channels[node_id]

    def _drop_channel(self, node_id: str) -> None:
        channel = self._channels.pop(node_id, None)
        if channel is not None:
            channel.close()

    def addresses(self) -> list[str]:
        return [n.grpc_address for n in self.nodes.values()]

    def call(self, service: str, method: str, request: Any, budget_s: float = 30.0) -> Any:
        """One call through the client library, as an engine or the CLI makes it: to whichever
        running node leads, retried across elections with the same request within `budget_s`."""
        running = [n.grpc_address for n in self.nodes.values() if n.running()]
        policy = RetryPolicy(
            budget_ms=int(budget_s * 1000), call_timeout_ms=min(10_000, int(budget_s * 1000))
        )
        with CoordinatorClient(running, retry=policy) as client:
            return client.call(service, method, request)

    def status(self, node_id: str, timeout_s: float = 1.0) -> admin_pb2.StatusResponse:
        stub = admin_pb2_grpc.AdminStub(self.channel(node_id))  # type: ignore[no-untyped-call]
        response: admin_pb2.StatusResponse = stub.Status(
            admin_pb2.StatusRequest(), timeout=timeout_s
        )
        return response

    def statuses(self) -> dict[str, admin_pb2.StatusResponse]:
        """Status of every running node that answers."""
        found = {}
        for node_id, node in self.nodes.items():
            if node.running():
                with contextlib.suppress(grpc.RpcError):
                    found[node_id] = self.status(node_id)
        return found

    def leader_id(self) -> str | None:
        """The node that says it is leader, if the running nodes agree on exactly one."""
        leaders = {nid for nid, s in self.statuses().items() if s.role == admin_pb2.LEADER}
        return next(iter(leaders)) if len(leaders) == 1 else None

    def wait_for_leader(self, timeout_s: float = 30.0, exclude: str | None = None) -> str:
        def leader() -> str | None:
            found = self.leader_id()
            return found if found is not None and found != exclude else None

        return wait_until(leader, timeout_s, "a Raft leader")

    def wait_converged(self, timeout_s: float = 30.0) -> str:
        """Waits until every running node has applied the same index with the same digest."""

        def same() -> str | None:
            seen = self.statuses()
            running = [nid for nid, n in self.nodes.items() if n.running()]
            digests = {(s.applied_index, s.digest) for s in seen.values()}
            if len(seen) == len(running) and len(digests) == 1:
                return next(iter(digests))[1]
            return None

        return wait_until(same, timeout_s, "equal applied index and digest on every running node")

    def wait_caught_up(self, node_id: str, timeout_s: float = 30.0) -> int:
        """Waits until `node_id` has applied what the leader had committed when this was called
        (works while writes keep flowing, unlike wait_converged). Returns that index."""
        leader = self.wait_for_leader(timeout_s)
        target = self.status(leader).commit_index
        wait_until(
            lambda: self.status(node_id).applied_index >= target,
            timeout_s,
            f"{node_id} to apply index {target}",
        )
        return target

    def log_tail(self, node_id: str, lines: int = 30) -> str:
        return self.nodes[node_id].process.log_tail(lines)

    def log_tails(self, lines: int = 30) -> str:
        return "\n".join(
            f"----- {nid} ({n.log_path}) -----\n{self.log_tail(nid, lines)}"
            for nid, n in self.nodes.items()
        )

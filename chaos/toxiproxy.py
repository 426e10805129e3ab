"""The chaos suite's handle on Toxiproxy: start the real server, drive its HTTP API, and inject
network faults that always heal.

Responsibility: turn fault names (`cut`, `blackhole`, `latency`, `bandwidth`, `slicer`,
`reset_peer`) into Toxiproxy API calls on 127.0.0.1, and undo them on exit from the `with` block,
even when the block raised. It never decides *which* fault to inject or *when*: that belongs to
the nemesis that calls it. It never touches a process it did not start, and never stops one by
name.

What is wrapped and why. toxiproxy-python 0.1.1 (unmaintained since 2019) is used where it works:

* `toxiproxy.api.APIConsumer` does the GET/POST/DELETE requests. Its classmethods read `host` and
  `port` from the class and forward `**kwargs` to `requests`, so each `ToxiproxyClient` binds its
  own subclass (one server per client, not one per process) and passes `timeout=` on every call.
* `toxiproxy.api.validate_response` maps 400/404/409 to the library's exceptions, which are then
  re-raised as this module's errors naming the proxy, the toxic and the HTTP status.

What it lacks is filled in here, thinly: PATCH (the only non-deprecated way to update a toxic or
a proxy; the library has no toxic update at all and enables proxies with the deprecated POST),
an error for every other non-2xx status and for unreachable servers (the library lets them pass
silently), and typed results (`Proxy.add_toxic` returns None). The library's `Toxiproxy` and
`Proxy` objects are not used: their requests carry no timeout and go to the process-wide host and
port, and `Toxiproxy.create` checks for a duplicate with an extra racy GET before posting.

Behaviour of the server (v2.12.0) that callers depend on:

* A disabled proxy closes its open connections and stops listening (new connections are
  refused); re-enabling listens again on the same port, even when it was created with port 0.
* A `timeout` toxic with timeout=0 drops data on the floor (nothing is buffered), and removing it
  *closes* the connections that went through it: after a blackhole heals, data flows again on
  new connections only.
* Unknown toxic attributes are ignored without an error.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import requests
from toxiproxy.api import APIConsumer, validate_response
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from coordinator.ports import free_ports

LOCALHOST = "127.0.0.1"
INSTALL_HINT = "run scripts/install-toxiproxy to build it into .tools/bin (or set $TOXIPROXY_SERVER)"

Stream = Literal["upstream", "downstream"]
"""`upstream` is client -> server, `downstream` is server -> client."""
BOTH_STREAMS: tuple[Stream, ...] = ("upstream", "downstream")


class ToxiproxyError(Exception):
    """Base of every error this module raises."""


class ToxiproxyUnavailable(ToxiproxyError):
    """The server binary is missing, or the server did not come up and answer `GET /version`."""


class ToxiproxyApiError(ToxiproxyError):
    """An API call failed. `status` is the HTTP status, or None when no answer came back
    (connection refused, request timed out)."""

    def __init__(self, action: str, status: int | None, detail: str) -> None:
        self.action = action
        self.status = status
        self.detail = detail
        answer = f"HTTP {status}" if status is not None else "no answer"
        super().__init__(f"toxiproxy: {action} failed: {answer}: {detail}")


class ToxiproxyNotFound(ToxiproxyApiError):
    """HTTP 404: the proxy (or the toxic) does not exist."""


class ToxiproxyConflict(ToxiproxyApiError):
    """HTTP 409: a proxy or toxic with that name already exists."""


@dataclass(frozen=True)
class Proxy:
    """A proxy as the server reports it. `listen` is the address actually bound ("host:port")."""

    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def listen_port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])


@dataclass(frozen=True)
class Toxic:
    """A toxic installed on `proxy`. Every attribute of every v2 toxic type is an integer."""

    proxy: str
    name: str
    type: str
    stream: Stream
    toxicity: float
    attributes: Mapping[str, int]


class ToxiproxyClient:
    """A typed, timeout-bounded client for one Toxiproxy server's HTTP API.

    Every call either returns the server's view of the result or raises a `ToxiproxyApiError`
    (`ToxiproxyNotFound` for 404, `ToxiproxyConflict` for 409) naming the proxy, the toxic and
    the HTTP status. No call waits longer than `timeout_s` for an answer.
    """

    def __init__(self, host: str, port: int, timeout_s: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        # APIConsumer keeps host and port as class attributes; a subclass per client keeps two
        # clients (or two servers) in one process from overwriting each other's address.
        self._api: Any = type("BoundAPIConsumer", (APIConsumer,), {"host": host, "port": port})
        # How many active `cut` blocks hold each proxy disabled, so that the inner of two
        # nested or overlapping cuts of one proxy does not re-enable it under the outer one.
        self._cut_holds: Counter[str] = Counter()
        self._cut_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def version(self) -> str:
        body = self._call("GET", "/version", "read the server version").text
        try:
            return str(_json_object(body)["version"])
        except (ValueError, KeyError):
            return body.strip()  # servers before v2.6 answer with plain text

    def proxies(self) -> dict[str, Proxy]:
        listing = self._call("GET", "/proxies", "list proxies").json()
        return {name: _proxy(fields) for name, fields in listing.items()}

    def create_proxy(self, name: str, upstream: str, listen: str = f"{LOCALHOST}:0", enabled: bool = True) -> Proxy:
        """Creates a proxy from `listen` to `upstream` ("host:port"). Port 0 lets the server pick
        a free port; the returned `Proxy.listen_port` is the one it bound."""
        payload = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return _proxy(self._call("POST", "/proxies", f"create proxy {name!r}", payload).json())

    def get_proxy(self, name: str) -> Proxy:
        return _proxy(self._call("GET", f"/proxies/{name}", f"read proxy {name!r}").json())

    def delete_proxy(self, name: str) -> None:
        self._call("DELETE", f"/proxies/{name}", f"delete proxy {name!r}")

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Disabling closes the proxy's connections and its listener (new connections are
        refused); enabling listens again on the same address."""
        action = f"{'enable' if enabled else 'disable'} proxy {name!r}"
        return _proxy(self._call("PATCH", f"/proxies/{name}", action, {"enabled": enabled}).json())

    def enable_proxy(self, name: str) -> Proxy:
        return self.set_enabled(name, True)

    def disable_proxy(self, name: str) -> Proxy:
        return self.set_enabled(name, False)

    def toxics(self, proxy_name: str) -> list[Toxic]:
        listing = self._call("GET", f"/proxies/{proxy_name}/toxics", f"list toxics of proxy {proxy_name!r}").json()
        return [_toxic(proxy_name, fields) for fields in listing]

    def add_toxic(self, proxy_name: str, toxic_name: str, toxic_type: str, attributes: Mapping[str, int],
                  stream: Stream = "downstream", toxicity: float = 1.0) -> Toxic:
        """Installs a toxic. Toxic names are unique per proxy (a duplicate is a 409)."""
        payload = {"name": toxic_name, "type": toxic_type, "stream": stream, "toxicity": toxicity,
                   "attributes": dict(attributes)}
        action = f"add {toxic_type} toxic {toxic_name!r} to proxy {proxy_name!r}"
        return _toxic(proxy_name, self._call("POST", f"/proxies/{proxy_name}/toxics", action, payload).json())

    def update_toxic(self, proxy_name: str, toxic_name: str, attributes: Mapping[str, int] | None = None,
                     toxicity: float | None = None) -> Toxic:
        """Changes some attributes and/or the toxicity of an installed toxic; what is not given
        keeps its value. Its type and stream cannot change."""
        payload: dict[str, Any] = {}
        if attributes is not None:
            payload["attributes"] = dict(attributes)
        if toxicity is not None:
            payload["toxicity"] = toxicity
        action = f"update toxic {toxic_name!r} of proxy {proxy_name!r}"
        return _toxic(proxy_name, self._call("PATCH", f"/proxies/{proxy_name}/toxics/{toxic_name}", action,
                                             payload).json())

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy_name}/toxics/{toxic_name}",
                   f"remove toxic {toxic_name!r} from proxy {proxy_name!r}")

    def reset(self) -> None:
        """Removes every toxic from every proxy and enables every proxy."""
        self._call("POST", "/reset", "reset")

    def _call(self, method: Literal["GET", "POST", "PATCH", "DELETE"], path: str, action: str,
              payload: Mapping[str, Any] | None = None) -> requests.Response:
        try:
            if method == "PATCH":
                response = requests.patch(self.url + path, json=payload, timeout=self.timeout_s)
                validate_response(response)
            elif method == "POST":
                response = self._api.post(path, json=payload, timeout=self.timeout_s)
            elif method == "DELETE":
                response = self._api.delete(path, timeout=self.timeout_s)
            else:
                response = self._api.get(path, timeout=self.timeout_s)
        except NotFound as exc:
            raise ToxiproxyNotFound(action, 404, _server_message(exc)) from exc
        except ProxyExists as exc:
            raise ToxiproxyConflict(action, 409, _server_message(exc)) from exc
        except InvalidToxic as exc:
            raise ToxiproxyApiError(action, 400, _server_message(exc)) from exc
        except requests.RequestException as exc:
            raise ToxiproxyApiError(action, None, f"{type(exc).__name__} talking to {self.url}: {exc}") from exc
        if not isinstance(response, requests.Response):
            raise ToxiproxyApiError(action, None, f"unexpected answer {response!r}")
        if not response.ok:
            raise ToxiproxyApiError(action, response.status_code, _server_message_text(response.text))
        return response


def _json_object(body: str) -> dict[str, object]:
    value = json.loads(body)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {body!r}")
    return value


def _server_message(exc: BaseException) -> str:
    # The library raises its exceptions with the raw response body (bytes) as the only argument.
    content = exc.args[0] if exc.args else b""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    return _server_message_text(text)


def _server_message_text(text: str) -> str:
    try:
        return str(_json_object(text)["error"])
    except (ValueError, KeyError):
        return text.strip() or "(empty body)"


def _proxy(fields: Mapping[str, Any]) -> Proxy:
    return Proxy(name=str(fields["name"]), listen=str(fields["listen"]), upstream=str(fields["upstream"]),
                 enabled=bool(fields["enabled"]))


def _toxic(proxy_name: str, fields: Mapping[str, Any]) -> Toxic:
    stream: Stream = "upstream" if fields["stream"] == "upstream" else "downstream"
    attributes = {str(key): int(value) for key, value in (fields.get("attributes") or {}).items()}
    return Toxic(proxy=proxy_name, name=str(fields["name"]), type=str(fields["type"]), stream=stream,
                 toxicity=float(fields["toxicity"]), attributes=attributes)


# ---------------------------------------------------------------------------------------------
# The server process


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
            raise ToxiproxyUnavailable(f"toxiproxy-server: no pyproject.toml above {__file__}; {INSTALL_HINT}")
        candidate, source = root / ".tools" / "bin" / "toxiproxy-server", "the repository's .tools/bin"
    if not candidate.is_file() or not os.access(candidate, os.X_OK):
        raise ToxiproxyUnavailable(f"toxiproxy-server not found or not executable at {candidate} (from {source}); "
                                   f"{INSTALL_HINT}")
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

    def __init__(self, port: int | None = None, *, binary: Path | None = None, log_path: Path | None = None,
                 log_level: str = "info", seed: int | None = None, start_timeout_s: float = 5.0,
                 stop_timeout_s: float = 3.0) -> None:
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

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
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
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, "LOG_LEVEL": self._log_level})
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
        raise ToxiproxyUnavailable(f"toxiproxy-server (PID {self.pid}) did not answer GET {self.url}/version "
                                   f"within {self._start_timeout_s:.1f}s; last: {last}; log tail:\n{self.log_tail()}")

    def _raise_if_failed(self) -> None:
        process = self._process
        assert process is not None
        if process.poll() is not None:
            raise ToxiproxyUnavailable(f"toxiproxy-server (PID {self.pid}) exited with {process.returncode} "
                                       f"before answering on {self.url}; log tail:\n{self.log_tail()}")
        # When its API port is taken, the server logs the error and keeps running without an API
        # (v2.12.0 does not exit), so the log is the only place that says so.
        if self._log_path is not None and _API_FAILED_MARK in self._log_since_launch():
            raise _ApiPortTaken(f"toxiproxy-server (PID {self.pid}) could not serve its API on {self.url}; "
                                f"log tail:\n{self.log_tail()}")


class _ApiPortTaken(ToxiproxyUnavailable):
    """The server started but could not listen on its API port (another process holds it)."""


_API_FAILED_MARK = b'"message":"Server finished with error"'


# ---------------------------------------------------------------------------------------------
# Faults. Each is a context manager that installs the fault on entry and heals it on exit, even
# when the block raised. Healing is idempotent and tolerates a proxy that has been deleted (or a
# toxic that `reset()` already removed).

_toxic_serial = itertools.count(1)


def _proxy_names(proxy_names: str | Iterable[str]) -> tuple[str, ...]:
    # A lone string is one proxy name, not an iterable of one-letter names.
    names = (proxy_names,) if isinstance(proxy_names, str) else tuple(proxy_names)
    return tuple(dict.fromkeys(names))


def _raise_if_not_healed(fault: str, failures: Sequence[ToxiproxyError]) -> None:
    if failures:
        raise ToxiproxyError(f"healing {fault} failed {len(failures)} time(s), the network may still be faulty: "
                             + "; ".join(str(failure) for failure in failures)) from failures[0]


@contextlib.contextmanager
def cut(client: ToxiproxyClient, proxy_names: str | Iterable[str]) -> Iterator[None]:
    """Disables the proxies: open connections are closed and new ones refused. On exit, each proxy
    is enabled again unless another active `cut` through this client still holds it."""
    held: list[str] = []
    try:
        for name in _proxy_names(proxy_names):
            with client._cut_lock:
                client._cut_holds[name] += 1
                held.append(name)
                if client._cut_holds[name] == 1:
                    client.disable_proxy(name)
        yield
    finally:
        failures: list[ToxiproxyError] = []
        for name in reversed(held):
            with client._cut_lock:
                client._cut_holds[name] -= 1
                if client._cut_holds[name] > 0:
                    continue
                del client._cut_holds[name]
                try:
                    client.enable_proxy(name)
                except ToxiproxyNotFound:
                    pass  # deleted while cut: nothing left to heal
                except ToxiproxyError as exc:
                    failures.append(exc)
        _raise_if_not_healed(f"cut of {list(held)}", failures)


@contextlib.contextmanager
def _toxic_fault(client: ToxiproxyClient, proxy_names: str | Iterable[str], toxic_type: str,
                 attributes: Mapping[str, int], streams: Sequence[Stream]) -> Iterator[tuple[Toxic, ...]]:
    installed: list[Toxic] = []
    try:
        for proxy_name in _proxy_names(proxy_names):
            for stream in streams:
                # Unique per process and call, so nested or overlapping faults never collide, and
                # readable in the server's log: `latency-upstream-4242-7`.
                toxic_name = f"{toxic_type}-{stream}-{os.getpid()}-{next(_toxic_serial)}"
                installed.append(client.add_toxic(proxy_name, toxic_name, toxic_type, attributes, stream))
        yield tuple(installed)
    finally:
        failures: list[ToxiproxyError] = []
        for toxic in reversed(installed):
            try:
                client.remove_toxic(toxic.proxy, toxic.name)
            except ToxiproxyNotFound:
                pass  # the proxy was deleted, or reset() already removed the toxic
            except ToxiproxyError as exc:
                failures.append(exc)
        _raise_if_not_healed(f"{toxic_type} on {[toxic.proxy for toxic in installed]}", failures)


def blackhole(client: ToxiproxyClient, proxy_names: str | Iterable[str],
              streams: Sequence[Stream] = BOTH_STREAMS) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Connections are accepted but data is silently dropped (a `timeout` toxic with timeout=0),
    so reads time out instead of failing. Healing closes the connections that were blackholed."""
    return _toxic_fault(client, proxy_names, "timeout", {"timeout": 0}, streams)


def latency(client: ToxiproxyClient, proxy_names: str | Iterable[str], latency_ms: int, jitter_ms: int = 0,
            streams: Sequence[Stream] = BOTH_STREAMS) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Delays data by `latency_ms` +/- `jitter_ms` in each stream, so a round trip through both
    streams takes about twice `latency_ms` longer."""
    return _toxic_fault(client, proxy_names, "latency", {"latency": latency_ms, "jitter": jitter_ms}, streams)


def bandwidth(client: ToxiproxyClient, proxy_names: str | Iterable[str], rate_kb: int,
              streams: Sequence[Stream] = BOTH_STREAMS) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Limits each stream to `rate_kb` KB/s."""
    return _toxic_fault(client, proxy_names, "bandwidth", {"rate": rate_kb}, streams)


def slicer(client: ToxiproxyClient, proxy_names: str | Iterable[str], average_size: int, size_variation: int,
           delay_us: int, streams: Sequence[Stream] = BOTH_STREAMS
           ) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Cuts data into packets of `average_size` +/- `size_variation` bytes, `delay_us`
    microseconds apart: exercises framing code that assumes one read is one message."""
    attributes = {"average_size": average_size, "size_variation": size_variation, "delay": delay_us}
    return _toxic_fault(client, proxy_names, "slicer", attributes, streams)


def reset_peer(client: ToxiproxyClient, proxy_names: str | Iterable[str], timeout_ms: int,
               streams: Sequence[Stream] = BOTH_STREAMS) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Resets connections (TCP RST, "connection reset by peer") `timeout_ms` after data arrives;
    0 resets them at once."""
    return _toxic_fault(client, proxy_names, "reset_peer", {"timeout": timeout_ms}, streams)

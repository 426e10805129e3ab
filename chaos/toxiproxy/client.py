"""A typed, timeout-bounded client for one Toxiproxy server's HTTP API, and the errors and
values it returns.

Responsibility: one method per API call, each returning the server's view of the result or raising
a typed error that names the proxy, the toxic and the HTTP status; and the count of `cut` holds on
each proxy, so that overlapping cuts through one client re-enable a proxy only when the last one
heals. It never decides which fault to inject or when.

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
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import requests
from toxiproxy.api import APIConsumer, validate_response
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

LOCALHOST = "127.0.0.1"

Stream = Literal["upstream", "downstream"]
"""`upstream` is client -> server, `downstream` is server -> client."""


class ToxiproxyError(Exception):
    """Base of every error the `chaos.toxiproxy` package raises."""


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
        # How many holds (one per active `cut` block) keep each proxy disabled, so that the inner
        # of two nested or overlapping cuts of one proxy does not re-enable it under the outer one.
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

    def create_proxy(
        self, name: str, upstream: str, listen: str = f"{LOCALHOST}:0", enabled: bool = True
    ) -> Proxy:
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

    def hold_cut(self, name: str) -> None:
        """Takes one hold on proxy `name` staying disabled, and disables it if no other hold
        through this client has. The hold is counted even when disabling raises (the server may
        have disabled it before the answer was lost), so every `hold_cut` is paired with a
        `release_cut`."""
        with self._cut_lock:
            self._cut_holds[name] += 1
            if self._cut_holds[name] == 1:
                self.disable_proxy(name)

    def release_cut(self, name: str) -> None:
        """Releases one hold taken with `hold_cut`, and enables the proxy again when it was the
        last. Raises what `enable_proxy` raises (`ToxiproxyNotFound` if the proxy was deleted
        meanwhile); the hold is released either way. Without a hold it does nothing, so a caller
        interrupted before its `hold_cut` counted can still release in a `finally`."""
        with self._cut_lock:
            if self._cut_holds[name] == 0:
                return
            self._cut_holds[name] -= 1
            if self._cut_holds[name] > 0:
                return
            del self._cut_holds[name]
            self.enable_proxy(name)

    def toxics(self, proxy_name: str) -> list[Toxic]:
        listing = self._call(
            "GET", f"/proxies/{proxy_name}/toxics", f"list toxics of proxy {proxy_name!r}"
        ).json()
        return [_toxic(proxy_name, fields) for fields in listing]

    def add_toxic(
        self,
        proxy_name: str,
        toxic_name: str,
        toxic_type: str,
        attributes: Mapping[str, int],
        stream: Stream = "downstream",
        toxicity: float = 1.0,
    ) -> Toxic:
        """Installs a toxic. Toxic names are unique per proxy (a duplicate is a 409)."""
        payload = {
            "name": toxic_name,
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes),
        }
        action = f"add {toxic_type} toxic {toxic_name!r} to proxy {proxy_name!r}"
        return _toxic(
            proxy_name, self._call("POST", f"/proxies/{proxy_name}/toxics", action, payload).json()
        )

    def update_toxic(
        self,
        proxy_name: str,
        toxic_name: str,
        attributes: Mapping[str, int] | None = None,
        toxicity: float | None = None,
    ) -> Toxic:
        """Changes some attributes and/or the toxicity of an installed toxic; what is not given
        keeps its value. Its type and stream cannot change."""
        payload: dict[str, Any] = {}
        if attributes is not None:
            payload["attributes"] = dict(attributes)
        if toxicity is not None:
            payload["toxicity"] = toxicity
        action = f"update toxic {toxic_name!r} of proxy {proxy_name!r}"
        return _toxic(
            proxy_name,
            self._call(
                "PATCH", f"/proxies/{proxy_name}/toxics/{toxic_name}", action, payload
            ).json(),
        )

    def remove_toxic(self, proxy_name: str, toxic_name: str) -> None:
        self._call(
            "DELETE",
            f"/proxies/{proxy_name}/toxics/{toxic_name}",
            f"remove toxic {toxic_name!r} from proxy {proxy_name!r}",
        )

    def reset(self) -> None:
        """Removes every toxic from every proxy and enables every proxy."""
        self._call("POST", "/reset", "reset")

    def _call(
        self,
        method: Literal["GET", "POST", "PATCH", "DELETE"],
        path: str,
        action: str,
        payload: Mapping[str, Any] | None = None,
    ) -> requests.Response:
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
            raise ToxiproxyApiError(
                action, None, f"{type(exc).__name__} talking to {self.url}: {exc}"
            ) from exc
        if not isinstance(response, requests.Response):
            raise ToxiproxyApiError(action, None, f"unexpected answer {response!r}")
        if not response.ok:
            raise ToxiproxyApiError(
                action, response.status_code, _server_message_text(response.text)
            )
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
    return Proxy(
        name=str(fields["name"]),
        listen=str(fields["listen"]),
        upstream=str(fields["upstream"]),
        enabled=bool(fields["enabled"]),
    )


def _toxic(proxy_name: str, fields: Mapping[str, Any]) -> Toxic:
    stream: Stream = "upstream" if fields["stream"] == "upstream" else "downstream"
    attributes = {str(key): int(value) for key, value in (fields.get("attributes") or {}).items()}
    return Toxic(
        proxy=proxy_name,
        name=str(fields["name"]),
        type=str(fields["type"]),
        stream=stream,
        toxicity=float(fields["toxicity"]),
        attributes=attributes,
    )

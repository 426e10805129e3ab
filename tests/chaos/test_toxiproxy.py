"""The Toxiproxy layer against the real `toxiproxy-server` binary: the server's lifecycle, the
API client, and that every fault does what its name says and always heals.

Upstream of every proxy is a small TCP echo server on 127.0.0.1 in a thread of this process.
When the binary is missing these tests fail (with the install hint), never skip.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.toxiproxy import (
    LOCALHOST,
    Proxy,
    Toxic,
    ToxiproxyApiError,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyNotFound,
    ToxiproxyServer,
    ToxiproxyUnavailable,
    bandwidth,
    blackhole,
    cut,
    free_port,
    latency,
    reset_peer,
    slicer,
)

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(30)]

RAFT_LINK = "raft-n1-n2"


class EchoUpstream:
    """A TCP echo server on 127.0.0.1, one thread per connection. Every loop is bounded by a stop
    event, a lifetime and a connection count, so a forgotten instance cannot outlive its test."""

    LIFETIME_S = 60.0
    MAX_CONNECTIONS = 64
    POLL_S = 0.05

    def __init__(self) -> None:
        self._listener = socket.create_server((LOCALHOST, 0))
        self._listener.settimeout(self.POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self.address = f"{LOCALHOST}:{self.port}"
        self._stopped = threading.Event()
        self._deadline = time.monotonic() + self.LIFETIME_S
        self._threads = [
            threading.Thread(target=self._accept_loop, name="echo-accept", daemon=True)
        ]
        self._threads[0].start()

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        for thread in list(self._threads):
            thread.join(timeout=1.0)

    def _serving(self) -> bool:
        return not self._stopped.is_set() and time.monotonic() < self._deadline

    def _accept_loop(self) -> None:
        accepted = 0
        while self._serving() and accepted < self.MAX_CONNECTIONS:
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # the listener was closed by stop()
            accepted += 1
            thread = threading.Thread(
                target=self._echo, args=(connection,), name="echo-conn", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _echo(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(self.POLL_S)
            while self._serving():
                try:
                    data = connection.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                connection.sendall(data)


def connect(port: int, timeout_s: float = 2.0) -> socket.socket:
    return socket.create_connection((LOCALHOST, port), timeout=timeout_s)


def echo_on(connection: socket.socket, payload: bytes) -> bytes:
    """Sends `payload` and reads back as many bytes (or fewer, if the peer closes first)."""
    connection.sendall(payload)
    received = b""
    for _ in range(len(payload)):  # each recv returns at least one byte, or b"" at end of stream
        chunk = connection.recv(len(payload) - len(received))
        received += chunk
        if not chunk or len(received) == len(payload):
            break
    return received


def round_trip(port: int, payload: bytes = b"heartbeat term=7") -> bytes:
    with connect(port) as connection:
        return echo_on(connection, payload)


def closed_by_peer(connection: socket.socket, timeout_s: float = 2.0) -> bool:
    """True once the peer closed or reset the connection; raises TimeoutError if it stays open."""
    connection.settimeout(timeout_s)
    try:
        return connection.recv(1) == b""
    except ConnectionResetError:
        return True


@pytest.fixture(scope="module")
def toxiproxy_server(request: pytest.FixtureRequest) -> ToxiproxyServer:
    server = ToxiproxyServer()
    request.addfinalizer(server.stop)
    return server.start()


@pytest.fixture
def client(toxiproxy_server: ToxiproxyServer) -> Iterator[ToxiproxyClient]:
    client = toxiproxy_server.client()
    yield client
    # The server is shared by the module: leave it without proxies (and so without toxics).
    for name in client.proxies():
        client.delete_proxy(name)


@pytest.fixture
def upstream(request: pytest.FixtureRequest) -> EchoUpstream:
    echo = EchoUpstream()
    request.addfinalizer(echo.stop)
    return echo


@pytest.fixture
def link(client: ToxiproxyClient, upstream: EchoUpstream) -> Proxy:
    return client.create_proxy(RAFT_LINK, upstream.address)


def test_server_starts_on_a_free_port_and_stop_leaves_no_process(
    request: pytest.FixtureRequest,
) -> None:
    server = ToxiproxyServer()
    request.addfinalizer(server.stop)
    with server:
        pid = server.pid
        assert pid is not None and server.running
        assert server.port != 0
        assert server.client().version() != ""
        os.kill(pid, 0)  # alive: raises if not
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    server.stop()  # idempotent


def test_a_taken_api_port_fails_the_start_instead_of_serving_nothing(
    request: pytest.FixtureRequest,
) -> None:
    # toxiproxy-server v2.12.0 does not exit when its API port is taken: it logs and idles.
    with socket.create_server((LOCALHOST, 0)) as squatter:
        server = ToxiproxyServer(port=squatter.getsockname()[1])
        request.addfinalizer(server.stop)
        with pytest.raises(ToxiproxyUnavailable, match="could not serve its API") as unavailable:
            server.start()
    assert "address already in use" in str(unavailable.value)
    assert server.pid is not None and not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)


def test_proxy_forwards_bytes_and_listens_on_the_port_the_server_chose(
    client: ToxiproxyClient, upstream: EchoUpstream
) -> None:
    proxy = client.create_proxy(RAFT_LINK, upstream.address)

    assert proxy == Proxy(
        name=RAFT_LINK,
        listen=f"{LOCALHOST}:{proxy.listen_port}",
        upstream=upstream.address,
        enabled=True,
    )
    assert proxy.listen_port != 0
    assert client.get_proxy(RAFT_LINK) == proxy
    assert client.proxies() == {RAFT_LINK: proxy}
    assert round_trip(proxy.listen_port, b"AppendEntries term=3") == b"AppendEntries term=3"


def test_api_errors_name_the_proxy_the_toxic_and_the_http_status(
    client: ToxiproxyClient, link: Proxy
) -> None:
    with pytest.raises(
        ToxiproxyConflict, match=f"create proxy '{RAFT_LINK}' failed: HTTP 409"
    ) as conflict:
        client.create_proxy(RAFT_LINK, link.upstream)
    assert conflict.value.status == 409
    with pytest.raises(
        ToxiproxyNotFound, match="read proxy 'raft-n9-n9' failed: HTTP 404: proxy not found"
    ):
        client.get_proxy("raft-n9-n9")
    with pytest.raises(
        ToxiproxyNotFound, match=f"update toxic 'slow-acks' of proxy '{RAFT_LINK}' failed: HTTP 404"
    ):
        client.update_toxic(RAFT_LINK, "slow-acks", {"latency": 10})
    with pytest.raises(ToxiproxyApiError, match="HTTP 400: invalid toxic type") as invalid:
        client.add_toxic(RAFT_LINK, "drops", "packet_loss", {})
    assert invalid.value.action == f"add packet_loss toxic 'drops' to proxy '{RAFT_LINK}'"
    nobody = ToxiproxyClient(LOCALHOST, free_port(), timeout_s=0.5)
    with pytest.raises(ToxiproxyApiError, match="list proxies failed: no answer") as unanswered:
        nobody.proxies()
    assert unanswered.value.status is None


def test_cut_drops_open_connections_refuses_new_ones_and_heals_on_exit(
    client: ToxiproxyClient, link: Proxy
) -> None:
    with connect(link.listen_port) as open_before:
        assert echo_on(open_before, b"vote") == b"vote"
        with cut(client, [link.name]):
            assert not client.get_proxy(link.name).enabled
            assert closed_by_peer(open_before)
            with pytest.raises(ConnectionRefusedError):
                connect(link.listen_port).close()

    assert client.get_proxy(link.name).enabled
    assert round_trip(link.listen_port) == b"heartbeat term=7"


def test_cut_heals_when_the_block_raises(client: ToxiproxyClient, link: Proxy) -> None:
    with pytest.raises(RuntimeError, match="engine crashed"), cut(client, link.name):
        raise RuntimeError("engine crashed")

    assert client.get_proxy(link.name).enabled
    assert round_trip(link.listen_port) == b"heartbeat term=7"


def test_nested_cuts_of_one_proxy_heal_when_the_outer_one_exits(
    client: ToxiproxyClient, link: Proxy
) -> None:
    with cut(client, link.name):
        with cut(client, link.name):
            pass
        assert not client.get_proxy(link.name).enabled, (
            "the inner cut re-enabled a proxy the outer one holds"
        )
    assert client.get_proxy(link.name).enabled


def test_a_held_cut_is_enabled_again_only_by_the_last_release(
    client: ToxiproxyClient, link: Proxy
) -> None:
    client.release_cut(link.name)  # without a hold: nothing to release, and the proxy stays enabled
    assert client.get_proxy(link.name).enabled
    client.hold_cut(link.name)
    client.hold_cut(link.name)
    assert not client.get_proxy(link.name).enabled
    client.release_cut(link.name)
    assert not client.get_proxy(link.name).enabled, (
        "the first release re-enabled a proxy still held"
    )
    client.release_cut(link.name)
    assert client.get_proxy(link.name).enabled


def test_blackhole_times_out_reads_and_data_flows_on_new_connections_after_healing(
    client: ToxiproxyClient, link: Proxy
) -> None:
    with connect(link.listen_port) as blackholed:
        with blackhole(client, link.name) as toxics:
            assert sorted(
                (toxic.stream, toxic.type, dict(toxic.attributes)) for toxic in toxics
            ) == [
                ("downstream", "timeout", {"timeout": 0}),
                ("upstream", "timeout", {"timeout": 0}),
            ]
            connect(link.listen_port).close()  # still accepted: a blackhole is not a refusal
            blackholed.settimeout(0.3)
            with pytest.raises(TimeoutError):
                echo_on(blackholed, b"RequestVote term=4")

        assert client.toxics(link.name) == []
        # Removing a timeout toxic closes the connections it held (toxics/timeout.go, Cleanup).
        assert closed_by_peer(blackholed)
    assert round_trip(link.listen_port) == b"heartbeat term=7"


def test_latency_delays_an_echo_round_trip_in_both_directions(
    client: ToxiproxyClient, link: Proxy
) -> None:
    latency_ms = 150
    with latency(client, link.name, latency_ms=latency_ms, jitter_ms=0) as toxics:
        assert sorted(toxic.stream for toxic in toxics) == ["downstream", "upstream"]
        with connect(link.listen_port) as connection:
            started = time.monotonic()
            assert echo_on(connection, b"AppendEntries") == b"AppendEntries"
            round_trip_s = time.monotonic() - started

    # Each direction adds `latency_ms`; the bound is generous and there is no upper bound.
    assert round_trip_s >= 0.8 * 2 * latency_ms / 1000, f"round trip took {round_trip_s:.3f}s"
    assert client.toxics(link.name) == []


def test_updating_a_toxic_changes_its_attributes_and_toxicity(
    client: ToxiproxyClient, link: Proxy
) -> None:
    added = client.add_toxic(
        link.name, "slow-acks", "latency", {"latency": 100}, stream="downstream"
    )
    assert added == Toxic(
        proxy=link.name,
        name="slow-acks",
        type="latency",
        stream="downstream",
        toxicity=1.0,
        attributes={"latency": 100, "jitter": 0},
    )

    updated = client.update_toxic(link.name, "slow-acks", {"latency": 300}, toxicity=0.5)

    assert updated == Toxic(
        proxy=link.name,
        name="slow-acks",
        type="latency",
        stream="downstream",
        toxicity=0.5,
        attributes={"latency": 300, "jitter": 0},
    )
    assert client.toxics(link.name) == [updated]
    client.remove_toxic(link.name, "slow-acks")
    assert client.toxics(link.name) == []


def test_reset_removes_every_toxic_and_enables_every_proxy(
    client: ToxiproxyClient, upstream: EchoUpstream, link: Proxy
) -> None:
    other = client.create_proxy("raft-n1-n3", upstream.address)
    names = [link.name, other.name]
    with (
        bandwidth(client, names, rate_kb=64),
        slicer(client, link.name, 16, 4, delay_us=100),
        reset_peer(client, other.name, timeout_ms=500),
    ):
        client.disable_proxy(other.name)
        assert {name: len(client.toxics(name)) for name in names} == {link.name: 4, other.name: 4}

        client.reset()

        assert {name: client.toxics(name) for name in names} == {link.name: [], other.name: []}
        assert {name: proxy.enabled for name, proxy in client.proxies().items()} == {
            link.name: True,
            other.name: True,
        }
    # Leaving the blocks found their toxics already gone, which healing tolerates.
    assert round_trip(other.listen_port) == b"heartbeat term=7"


def test_nested_faults_use_unique_toxic_names_and_heal_only_their_own(
    client: ToxiproxyClient, link: Proxy
) -> None:
    with latency(client, link.name, latency_ms=10) as outer:
        with latency(client, link.name, latency_ms=20) as inner:
            assert len({toxic.name for toxic in outer + inner}) == 4
            assert len(client.toxics(link.name)) == 4
        assert sorted(client.toxics(link.name), key=lambda toxic: toxic.name) == sorted(
            outer, key=lambda toxic: toxic.name
        )
    assert client.toxics(link.name) == []


def test_healing_tolerates_a_proxy_deleted_during_the_fault(
    client: ToxiproxyClient, upstream: EchoUpstream
) -> None:
    client.create_proxy(RAFT_LINK, upstream.address)
    with cut(client, RAFT_LINK):
        client.delete_proxy(RAFT_LINK)

    client.create_proxy(RAFT_LINK, upstream.address)
    with latency(client, RAFT_LINK, latency_ms=50):
        client.delete_proxy(RAFT_LINK)

    assert client.proxies() == {}


def test_missing_binary_raises_unavailable_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = str(tmp_path / "no-such-toxiproxy-server")
    monkeypatch.setenv("TOXIPROXY_SERVER", missing)

    with pytest.raises(ToxiproxyUnavailable, match="run scripts/install-toxiproxy") as unavailable:
        ToxiproxyServer()
    assert missing in str(unavailable.value)

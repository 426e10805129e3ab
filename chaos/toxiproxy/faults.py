"""Network faults through Toxiproxy that always heal: `cut`, `blackhole`, `latency`, `bandwidth`,
`slicer` and `reset_peer`.

Responsibility: turn a fault name into Toxiproxy API calls on entry to a `with` block, and undo
them on exit, even when the block raised. Healing is idempotent and tolerates a proxy that has
been deleted (or a toxic that `reset()` already removed); a heal that fails is raised, naming
every failure. It never decides *which* fault to inject or *when*: that belongs to the nemesis
that calls it.

Behaviour of the server (v2.12.0) that these faults depend on:

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
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence

from chaos.toxiproxy.client import Stream, Toxic, ToxiproxyClient, ToxiproxyError, ToxiproxyNotFound

BOTH_STREAMS: tuple[Stream, ...] = ("upstream", "downstream")

_toxic_serial = itertools.count(1)


def _proxy_names(proxy_names: str | Iterable[str]) -> tuple[str, ...]:
    # A lone string is one proxy name, not an iterable of one-letter names.
    names = (proxy_names,) if isinstance(proxy_names, str) else tuple(proxy_names)
    return tuple(dict.fromkeys(names))


def _raise_if_not_healed(fault: str, failures: Sequence[ToxiproxyError]) -> None:
    if failures:
        raise ToxiproxyError(
            f"healing {fault} failed {len(failures)} time(s), the network may still be faulty: "
            + "; ".join(str(failure) for failure in failures)
        ) from failures[0]


@contextlib.contextmanager
def cut(client: ToxiproxyClient, proxy_names: str | Iterable[str]) -> Iterator[None]:
    """Disables the proxies: open connections are closed and new ones refused. On exit, each proxy
    is enabled again unless another active `cut` through this client still holds it."""
    held: list[str] = []
    try:
        for name in _proxy_names(proxy_names):
            held.append(name)  # before the hold: a hold whose disabling raised is released too
            client.hold_cut(name)
        yield
    finally:
        failures: list[ToxiproxyError] = []
        for name in reversed(held):
            try:
                client.release_cut(name)
            except ToxiproxyNotFound:
                pass  # deleted while cut: nothing left to heal
            except ToxiproxyError as exc:
                failures.append(exc)
        _raise_if_not_healed(f"cut of {list(held)}", failures)


@contextlib.contextmanager
def _toxic_fault(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    toxic_type: str,
    attributes: Mapping[str, int],
    streams: Sequence[Stream],
) -> Iterator[tuple[Toxic, ...]]:
    installed: list[Toxic] = []
    try:
        for proxy_name in _proxy_names(proxy_names):
            for stream in streams:
                # Unique per process and call, so nested or overlapping faults never collide, and
                # readable in the server's log: `latency-upstream-4242-7`.
                toxic_name = f"{toxic_type}-{stream}-{os.getpid()}-{next(_toxic_serial)}"
                installed.append(
                    client.add_toxic(proxy_name, toxic_name, toxic_type, attributes, stream)
                )
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


def blackhole(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    streams: Sequence[Stream] = BOTH_STREAMS,
) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Connections are accepted but data is silently dropped (a `timeout` toxic with timeout=0),
    so reads time out instead of failing. Healing closes the connections that were blackholed."""
    return _toxic_fault(client, proxy_names, "timeout", {"timeout": 0}, streams)


def latency(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    latency_ms: int,
    jitter_ms: int = 0,
    streams: Sequence[Stream] = BOTH_STREAMS,
) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Delays data by `latency_ms` +/- `jitter_ms` in each stream, so a round trip through both
    streams takes about twice `latency_ms` longer."""
    return _toxic_fault(
        client, proxy_names, "latency", {"latency": latency_ms, "jitter": jitter_ms}, streams
    )


def bandwidth(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    rate_kb: int,
    streams: Sequence[Stream] = BOTH_STREAMS,
) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Limits each stream to `rate_kb` KB/s."""
    return _toxic_fault(client, proxy_names, "bandwidth", {"rate": rate_kb}, streams)


def slicer(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    average_size: int,
    size_variation: int,
    delay_us: int,
    streams: Sequence[Stream] = BOTH_STREAMS,
) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Cuts data into packets of `average_size` +/- `size_variation` bytes, `delay_us`
    microseconds apart: exercises framing code that assumes one read is one message."""
    attributes = {"average_size": average_size, "size_variation": size_variation, "delay": delay_us}
    return _toxic_fault(client, proxy_names, "slicer", attributes, streams)


def reset_peer(
    client: ToxiproxyClient,
    proxy_names: str | Iterable[str],
    timeout_ms: int,
    streams: Sequence[Stream] = BOTH_STREAMS,
) -> contextlib.AbstractContextManager[tuple[Toxic, ...]]:
    """Resets connections (TCP RST, "connection reset by peer") `timeout_ms` after data arrives;
    0 resets them at once."""
    return _toxic_fault(client, proxy_names, "reset_peer", {"timeout": timeout_ms}, streams)

"""Free TCP ports on 127.0.0.1 for the processes started here (nodes, Toxiproxy).

Ports come from below the kernel's ephemeral range. The kernel hands ports from that range to
every outgoing connection and to anything bound to port 0 (Toxiproxy's proxies among them), so
a port found free there and released can be taken by one of those before the node that was
meant to get it binds it ("Address already in use", seen in the chaos suite).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LINUX_DEFAULT_EPHEMERAL = (32768, 60999)
_random = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_EPHEMERAL
    return low, high


def candidate_ports() -> Sequence[int]:
    """Non-privileged ports outside the ephemeral range: below it, or above it if it starts low."""
    low, high = ephemeral_range()
    if low - 1024 >= 4096:
        return range(max(1024, low - 20_000), low)
    return range(high + 1, 65536)


def outside_ephemeral() -> list[int]:
    """Every non-privileged port outside the ephemeral range."""
    low, high = ephemeral_range()
    return [*range(1024, low), *range(high + 1, 65536)]


def free_ports(
    count: int, host: str = "127.0.0.1", accept: Callable[[int], bool] | None = None
) -> list[int]:
    """`count` distinct ports that nothing holds right now (each was bound, without address
    reuse, then released). `accept` narrows the choice (say, to ports whose address sorts above
    another's); it then picks among every port outside the ephemeral range, not only the usual
    band, so a narrow condition can still be met."""
    pool: Sequence[int] = (
        candidate_ports() if accept is None else [p for p in outside_ephemeral() if accept(p)]
    )
    if not pool:
        raise RuntimeError(f"no port outside the ephemeral range meets the condition on {host}")
    held: list[socket.socket] = []
    try:
        for _ in range(200 * count):
            if len(held) == count:
                break
            probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                probe.bind((host, _random.choice(pool)))
            except OSError:
                probe.close()
                continue
            held.append(probe)
        if len(held) < count:
            raise RuntimeError(
                f"found only {len(held)} of {count} free ports in {min(pool)}-{max(pool)} on {host}"
            )
        return [probe.getsockname()[1] for probe in held]
    finally:
        for probe in held:
            probe.close()

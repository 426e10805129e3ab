"""Ports for the processes the tests and the demo start: never from the kernel's ephemeral
range, where an outgoing connection or a port-0 listener (Toxiproxy) could take them first."""

from __future__ import annotations

import socket

import pytest

from coordinator import ports
from coordinator.ports import ephemeral_range, free_ports


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    ports = free_ports(8)
    assert len(set(ports)) == 8
    assert all(1024 <= p < 65536 and not low <= p <= high for p in ports)
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", port))


def test_a_port_held_by_someone_else_is_never_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", free_ports(1)[0]))
        squatter.listen()
        taken = squatter.getsockname()[1]
        others = [p for p in range(taken - 50, taken + 50) if p != taken and bindable(p)][:2]
        monkeypatch.setattr(ports, "candidate_ports", lambda: [taken, *others])
        assert sorted(free_ports(2)) == sorted(others)
        with pytest.raises(RuntimeError, match="found only 2 of 3 free ports"):
            free_ports(3)


def bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_narrow_condition_is_met_from_beyond_the_usual_band() -> None:
    """The chaos joiner needs a Raft address that sorts above every voter's, so that it dials
    every link itself; a voter near the top of the usual band left no such port in it."""
    highest = f"127.0.0.1:{max(ports.candidate_ports())}"
    chosen = free_ports(3, accept=lambda port: f"127.0.0.1:{port}" > highest)
    low, high = ephemeral_range()
    assert all(f"127.0.0.1:{p}" > highest and not low <= p <= high for p in chosen)


def test_a_condition_no_port_meets_is_a_clear_error() -> None:
    with pytest.raises(
        RuntimeError, match="no port outside the ephemeral range meets the condition"
    ):
        free_ports(1, accept=lambda port: False)

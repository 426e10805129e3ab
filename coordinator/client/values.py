"""The library's own values: what `on_elected` receives and what `observe()` yields."""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.core.model import Order, Position


@dataclass(frozen=True, slots=True)
class Grant:
    """What `on_elected` receives: the epoch to stamp on every write, and the warm book."""

    engine_id: str
    epoch: int
    ttl_ms: int
    open_orders: tuple[Order, ...]
    positions: tuple[Position, ...]
    resumed: bool = False  # re-acquired the same epoch after a lost lease (no one else held it)


@dataclass(frozen=True, slots=True)
class LeadershipEvent:
    """One item of `observe()`: who holds the execution role, as a node has applied it."""

    epoch: int
    holder_id: str  # "" when the role is free
    ttl_ms: int
    node_id: str
    applied_index: int
    handoff_to: str
    changed_at_ns: int

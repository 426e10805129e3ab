"""Apply is total: an unreadable entry is a refusal, and a core bug stops the node instead of
raising into pysyncobj (which would re-apply the entry forever and wedge the cluster)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

import pytest

from coordinator.core.refusals import Reason
from coordinator.core.results import CampaignResult, Refused
from coordinator.core.state import CoordinatorState
from coordinator.replication import fatal
from coordinator.replication.envelope import encode
from coordinator.replication.state import ReplicatedState
from tests.unit.builders import campaign


class NodeStopped(Exception):
    pass


@pytest.fixture
def stops() -> Iterator[list[str]]:
    seen: list[str] = []

    def record(message: str) -> NoReturn:
        seen.append(message)
        raise NodeStopped(message)

    previous = fatal.set_handler(record)
    yield seen
    fatal.set_handler(previous)


def test_an_unreadable_entry_is_an_invalid_command_refusal_not_an_exception(
    stops: list[str],
) -> None:
    state = ReplicatedState()
    result = state.apply(b"\x00\xffnot-a-command", 5)
    assert isinstance(result, Refused) and result.reason is Reason.INVALID_COMMAND
    assert stops == []


def test_a_bug_in_the_core_stops_the_node_with_a_clear_message(
    stops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: CoordinatorState, command: object, issued_at_ns: int) -> NoReturn:
        raise AssertionError("open exposure went negative")

    monkeypatch.setattr(CoordinatorState, "apply", broken)
    with pytest.raises(NodeStopped):
        ReplicatedState().apply(encode(campaign(), 1), 42)
    assert stops == [
        "state machine invariant broken at log entry 42: AssertionError('open exposure went "
        "negative')"
    ]


def test_applied_grants_feed_the_lease_timer_and_wake_observers() -> None:
    state = ReplicatedState()
    seen = state.wait_leadership_change(-1, 0)[0]
    result = state.apply(encode(campaign(), 1), 2)
    assert isinstance(result, CampaignResult) and result.granted
    version, leadership, applied = state.wait_leadership_change(seen, 0)
    assert version == seen + 1 and leadership.holder is not None and applied == 2
    state.arm_lease_timer()
    remaining = state.lease_remaining_ms()
    assert remaining is not None and 0 < remaining <= 500


def test_an_observer_that_raises_neither_raises_into_pysyncobj_nor_changes_the_result() -> None:
    """Issue 8, defect 9: `on_applied` (metrics) ran before pysyncobj advanced raftLastApplied;
    an exception there made pysyncobj apply the same entry again, on that node only."""
    state = ReplicatedState()

    def broken_metrics(name: str, result: object, seconds: float) -> None:
        raise RuntimeError("a metrics bug")

    state.on_applied = broken_metrics
    result = state.apply(encode(campaign(), 1), 1)
    assert isinstance(result, CampaignResult) and result.epoch == 1
    assert state.applied_index == 1

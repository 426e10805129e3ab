"""The bounded polls integration tests use instead of sleep-then-assert: wait_until for
"this happens", holds_for for "this never stops being true"."""

from __future__ import annotations

import itertools
import time

import pytest

from coordinator.localcluster import holds_for, wait_until


def test_holds_for_polls_for_the_whole_window_when_the_predicate_holds() -> None:
    looks = itertools.count()
    started = time.monotonic()
    holds_for(lambda: next(looks) >= 0, 0.2, "the counter to stay non-negative", interval_s=0.01)
    assert time.monotonic() - started >= 0.2
    assert next(looks) > 5


def test_holds_for_fails_at_the_first_falsy_look_naming_what_broke() -> None:
    looks = iter([True, True, 0, True])
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"the book to stay empty stopped holding .* saw 0; 3 orders"
    ):
        holds_for(
            lambda: next(looks),
            10.0,
            "the book to stay empty",
            interval_s=0.01,
            describe=lambda: "3 orders",
        )
    assert time.monotonic() - started < 5.0


def test_holds_for_lets_an_exception_from_the_predicate_through() -> None:
    def broken() -> bool:
        raise ConnectionError("node down")

    with pytest.raises(ConnectionError):
        holds_for(broken, 1.0, "the node to answer")


def test_wait_until_returns_the_first_truthy_value_and_times_out_with_the_last_one() -> None:
    values = iter([None, 0, "leader"])
    assert wait_until(lambda: next(values), 1.0, "a leader", interval_s=0.01) == "leader"
    with pytest.raises(TimeoutError, match="waiting for a leader; last seen: None"):
        wait_until(lambda: None, 0.05, "a leader", interval_s=0.01)

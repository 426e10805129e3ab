"""The blocking and asyncio clients are twins (issue 9): the same public methods and
properties, with the same parameters, so an engine can move between them without surprises.
The only differences allowed are the context-manager protocol (`with` / `async with`)."""

from __future__ import annotations

import inspect

import pytest

from coordinator.client import CoordinatorClient, EngineSession
from coordinator.client.aio import AsyncCoordinatorClient, AsyncEngineSession

PROTOCOL = {"__aenter__": "__enter__", "__aexit__": "__exit__"}


def public_api(cls: type) -> dict[str, list[str]]:
    """Public members (and the context-manager protocol) -> their parameter names."""
    api: dict[str, list[str]] = {}
    for name, member in inspect.getmembers(cls):
        name = PROTOCOL.get(name, name)
        if name.startswith("_") and name not in ("__init__", "__enter__", "__exit__"):
            continue
        if isinstance(member, property):
            api[name] = ["<property>"]
        elif inspect.isfunction(member):
            api[name] = [p for p in inspect.signature(member).parameters if p != "self"]
    return api


@pytest.mark.parametrize(
    ("blocking", "asyncio_twin"),
    [(CoordinatorClient, AsyncCoordinatorClient), (EngineSession, AsyncEngineSession)],
)
def test_the_blocking_and_asyncio_twins_have_the_same_public_api(
    blocking: type, asyncio_twin: type
) -> None:
    assert public_api(asyncio_twin) == public_api(blocking)


def test_the_asyncio_twin_awaits_every_call_that_may_touch_the_network() -> None:
    for cls in (AsyncCoordinatorClient, AsyncEngineSession):
        for name in ("close", "__aenter__", "__aexit__"):
            assert inspect.iscoroutinefunction(getattr(cls, name)), (
                f"{cls.__name__}.{name} is not async"
            )
    for name in (
        "submit_order",
        "update_order",
        "cancel_order",
        "report_fill",
        "resign",
        "start",
        "wait_active",
    ):
        assert inspect.iscoroutinefunction(getattr(AsyncEngineSession, name)), name
    for name in (
        "call",
        "call_timed",
        "refresh_leader",
        "orders",
        "positions",
        "get_order",
        "order_and_fills",
        "status",
    ):
        assert inspect.iscoroutinefunction(getattr(AsyncCoordinatorClient, name)), name

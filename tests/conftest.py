"""Shared fixtures. Every cluster a test starts is stopped by PID in a finalizer, and when a
test fails, the tail of each node's log is printed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from coordinator.localcluster import LocalCluster
from tests.cluster_calls import MakeCluster

# Test clusters run with the LAN preset (its numbers live in coordinator/replication/settings.py).
TEST_TIMING = {"preset": "lan"}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def has_failed(request: pytest.FixtureRequest) -> Callable[[], bool]:
    """Whether the test's setup or call has failed, for a finalizer deciding to print node logs."""
    return lambda: any(
        getattr(request.node, f"report_{when}", None) is not None
        and getattr(request.node, f"report_{when}").failed
        for when in ("setup", "call")
    )


@pytest.fixture
def make_cluster(
    has_failed: Callable[[], bool], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MakeCluster]:
    """Builds clusters of real node processes: `make_cluster(size=3, timing={...}).start()`."""
    clusters: list[LocalCluster] = []

    def build(size: int = 3, timing: dict[str, Any] | None = None, **kwargs: Any) -> LocalCluster:
        base = tmp_path_factory.mktemp("cluster")
        cluster = LocalCluster(
            size=size, base_dir=base, timing={**TEST_TIMING, **(timing or {})}, **kwargs
        )
        clusters.append(cluster)
        return cluster

    yield build
    for cluster in clusters:
        if has_failed():
            print(f"\n===== node logs of {cluster.base} =====\n{cluster.log_tails(40)}")
        cluster.close()

"""Fixtures of the in-process Raft tests: a cluster factory that closes every cluster it built,
and a partition that the monkeypatch undoes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.inprocess import InProcessCluster, MakeInProcessCluster, Partition


@pytest.fixture
def make_inprocess_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[MakeInProcessCluster]:
    """Builds in-process Raft clusters in fresh directories (InProcessCluster's other arguments);
    each one is closed after the test."""
    built: list[InProcessCluster] = []

    def build(**options: Any) -> InProcessCluster:
        cluster = InProcessCluster(tmp_path_factory.mktemp("raft"), **options)
        built.append(cluster)
        return cluster

    yield build
    for cluster in built:
        cluster.close()


@pytest.fixture
def partition(monkeypatch: pytest.MonkeyPatch) -> Partition:
    return Partition(monkeypatch)

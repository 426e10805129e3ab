"""pysyncobj's truncation defect under load: how many acknowledged entries followers truncate
with the log guards off (pysyncobj as shipped) and on (coordinator/replication/log_matching.py).

Each side runs on a fresh cluster: one client keeps `IN_FLIGHT` SubmitOrder calls in flight on
the leader for the given time, the cluster converges, and each node reports the acknowledged
entries it truncated. Never run in production: the unguarded side loses acknowledged writes.
"""

from __future__ import annotations

from typing import Any

import grpc

from coordinator.bench.load import LoadShape, Tally, drive
from coordinator.bench.orders import BenchEngine, UnaryOrders
from coordinator.bench.report import Progress
from coordinator.localcluster import LocalCluster
from coordinator.wire.channel import CHANNEL_OPTIONS

IN_FLIGHT = 128
UNGUARDED_ENV = {"COORDINATOR_UNSAFE_DISABLE_LOG_GUARDS": "1"}


async def truncations(seconds: float, guards: bool, progress: Progress) -> dict[str, Any]:
    """Acknowledged entries each follower truncated during `seconds` of load, with or without
    the guards: {"guards", "orders", "errors", "acked_entries_truncated": {node_id: n},
    "total"}."""
    with LocalCluster(env={} if guards else UNGUARDED_ENV) as cluster:
        cluster.start()
        engine = BenchEngine.grant(cluster)
        leader = cluster.wait_for_leader()
        address = cluster.nodes[leader].grpc_address
        async with grpc.aio.insecure_channel(address, options=CHANNEL_OPTIONS) as channel:
            session = UnaryOrders(channel, engine, "trunc-", call_timeout_s=10.0)
            record = await drive([session], LoadShape(1, IN_FLIGHT, seconds), Tally())
        cluster.wait_converged(60)
        counts = {n: s.acked_entries_truncated for n, s in cluster.statuses().items()}
    progress.note(
        f"guards {'on ' if guards else 'off'}: {record.committed} orders, acknowledged entries "
        f"truncated per node {counts}"
    )
    return {
        "guards": guards,
        "orders": record.committed,
        "errors": record.errors,
        "acked_entries_truncated": counts,
        "total": sum(counts.values()),
    }

"""A local coordinator cluster whose every link runs through its own Toxiproxy proxy.

pysyncobj keeps one TCP connection per pair of nodes, dialled by the node whose advertised
Raft address sorts higher and identified by that address, so one proxy per pair on the
dialling side carries the whole Raft link; each node's `[dial]` table points the peers it dials
at their proxies. The gRPC links a follower uses to forward to the leader are directed, one
proxy each way, also through `[dial]`. Every engine reaches every node through a proxy of its
own. The chaos harness itself (status, final reads) talks to the nodes directly.

Link names: `raft:dc1~dc2` (a pair), `grpc:dc1>dc2` (dc1 forwarding to dc2), `client:eng-a>dc1`.

A node added at run time (the joiner, `dc4`: a replacement data center) gets a Raft port that sorts
above every voter's, so it dials each of its Raft links itself, each through a proxy of its own;
cutting a voter off then cuts its link to the joiner too. Only a voter forwarding gRPC to a
joiner that leads goes direct (the voters' `[dial]` tables are written once, at the start).

Every node runs with its test instruments on (coordinator/replication/instruments.py): an apply
trace under `<base>/traces/` (outside the node directories, so it outlives a removed joiner) and
a failpoint file under `<base>/failpoints/` that faults write to make a node's disk slow.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from chaos.toxiproxy import ToxiproxyClient
from coordinator.localcluster import LocalCluster, LocalNode
from coordinator.ports import free_ports
from coordinator.replication.instruments import FAILPOINTS_ENV, TRACE_ENV

JOINER_ID = "dc4"


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # raft | grpc | client
    ends: frozenset[str]
    proxy_address: str


class ChaosCluster:
    def __init__(
        self,
        base: Path,
        toxiproxy: ToxiproxyClient,
        engines: Iterable[str],
        size: int = 3,
        timing: Mapping[str, int | str] | None = None,
    ) -> None:
        self.trace_dir, self.failpoint_dir = base / "traces", base / "failpoints"
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        self.failpoint_dir.mkdir(parents=True, exist_ok=True)
        env = {
            TRACE_ENV: str(self.trace_dir / "{node_id}.trace"),
            FAILPOINTS_ENV: str(self.failpoint_dir / "{node_id}.json"),
        }
        self.cluster = LocalCluster(
            size=size, base_dir=base / "cluster", timing=dict(timing or {}), keep=True, env=env
        )
        self.toxiproxy = toxiproxy
        self.engines = list(engines)
        self.links: dict[str, Link] = {}
        self.client_addresses: dict[str, list[str]] = {}
        self._joiner_dial: dict[str, str] = {}
        self._wire()

    @property
    def nodes(self) -> dict[str, LocalNode]:
        return self.cluster.nodes

    def _proxy(self, name: str, kind: str, ends: Iterable[str], upstream: str) -> str:
        proxy = self.toxiproxy.create_proxy(
            name.replace(":", "-").replace(">", "-to-").replace("~", "-"), upstream
        )
        address = f"127.0.0.1:{proxy.listen_port}"
        self.links[name] = Link(proxy.name, kind, frozenset(ends), address)
        return address

    def _wire(self) -> None:
        dial: dict[str, dict[str, str]] = {node_id: {} for node_id in self.nodes}
        for a, b in itertools.combinations(self.nodes.values(), 2):
            dialer, target = (a, b) if a.raft_address > b.raft_address else (b, a)
            dial[dialer.node_id][target.raft_address] = self._proxy(
                f"raft:{min(a.node_id, b.node_id)}~{max(a.node_id, b.node_id)}",
                "raft",
                (a.node_id, b.node_id),
                target.raft_address,
            )
        for a, b in itertools.permutations(self.nodes.values(), 2):
            dial[a.node_id][b.grpc_address] = self._proxy(
                f"grpc:{a.node_id}>{b.node_id}", "grpc", (a.node_id, b.node_id), b.grpc_address
            )
        for engine in self.engines:
            self.client_addresses[engine] = [
                self._proxy(
                    f"client:{engine}>{node.node_id}",
                    "client",
                    (engine, node.node_id),
                    node.grpc_address,
                )
                for node in self.nodes.values()
            ]
        for node in self.nodes.values():
            self.cluster.write_config(node, dial=dial[node.node_id])

    # ------------------------------------------------------------------ instruments

    def trace_path(self, node_id: str) -> Path:
        """Where `node_id` appends its apply trace (the file exists once the node has started)."""
        return self.trace_dir / f"{node_id}.trace"

    def set_failpoints(self, node_id: str, settings: Mapping[str, int]) -> None:
        """Replaces `node_id`'s failpoints (`{}` clears them). Written to a temporary file and
        renamed, so the node, which re-reads the file every 0.2 s, never reads half of it."""
        path = self.failpoint_dir / f"{node_id}.json"
        scratch = path.with_suffix(".json.tmp")
        scratch.write_text(json.dumps(dict(settings)) + "\n")
        os.replace(scratch, path)

    # ------------------------------------------------------------------ the joiner

    def joiner(self) -> LocalNode:
        """The node a membership fault adds (created on first use, then reused with a fresh data
        directory each time). Its config points every Raft and gRPC link it dials at a proxy; the
        caller sets `extra_config` (`join = true`) and writes the config with
        `write_joiner_config`."""
        if JOINER_ID in self.nodes:
            return self.nodes[JOINER_ID]
        highest = max(node.raft_address for node in self.nodes.values())
        raft_port = free_ports(1, accept=lambda port: f"127.0.0.1:{port}" > highest)[0]
        grpc_port = free_ports(1)[0]
        voters = list(self.nodes.values())
        node = LocalNode(
            JOINER_ID,
            f"127.0.0.1:{grpc_port}",
            f"127.0.0.1:{raft_port}",
            self.cluster.base / JOINER_ID,
        )
        self.nodes[JOINER_ID] = node
        self._joiner_dial = {}
        for voter in voters:
            self._joiner_dial[voter.raft_address] = self._proxy(
                f"raft:{voter.node_id}~{JOINER_ID}",
                "raft",
                (voter.node_id, JOINER_ID),
                voter.raft_address,
            )
            self._joiner_dial[voter.grpc_address] = self._proxy(
                f"grpc:{JOINER_ID}>{voter.node_id}",
                "grpc",
                (JOINER_ID, voter.node_id),
                voter.grpc_address,
            )
        return node

    def write_joiner_config(self, node: LocalNode) -> None:
        peers = [n for n in self.nodes.values() if n is not node]
        self.cluster.write_config(node, peers=peers, dial=self._joiner_dial)

    # ------------------------------------------------------------------ link groups

    def proxies(self, links: Iterable[Link]) -> list[str]:
        return sorted(link.name for link in links)

    def links_of(
        self, node_id: str, *, kinds: tuple[str, ...] = ("raft", "grpc", "client")
    ) -> list[Link]:
        """Every link with `node_id` at one end: isolating it cuts all of them."""
        return [link for link in self.links.values() if node_id in link.ends and link.kind in kinds]

    def links_between(
        self,
        group: Iterable[str],
        others: Iterable[str],
        kinds: tuple[str, ...] = ("raft", "grpc", "client"),
    ) -> list[Link]:
        """Links with one end in `group` and the other in `others` (engines or nodes)."""
        left, right = set(group), set(others)
        return [
            link
            for link in self.links.values()
            if link.kind in kinds
            and len(link.ends & left) == 1
            and len(link.ends & right) == 1
            and link.ends <= left | right
        ]

    def raft_links(self) -> list[Link]:
        return [link for link in self.links.values() if link.kind in ("raft", "grpc")]

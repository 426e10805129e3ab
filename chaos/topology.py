"""A local coordinator cluster whose every link runs through its own Toxiproxy proxy.

pysyncobj keeps one TCP connection per pair of nodes, dialled by the node whose advertised
Raft address sorts higher and identified by that address, so one proxy per pair on the
dialling side carries the whole Raft link; each node's `[dial]` table points the peers it dials
at their proxies. The gRPC links a follower uses to forward to the leader are directed, one
proxy each way, also through `[dial]`. Every engine reaches every node through a proxy of its
own. The chaos harness itself (status, final reads) talks to the nodes directly.

Link names: `raft:dc1~dc2` (a pair), `grpc:dc1>dc2` (dc1 forwarding to dc2), `client:eng-a>dc1`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from chaos.toxiproxy import ToxiproxyClient
from coordinator.localcluster import LocalCluster, LocalNode


@dataclass(frozen=True)
class Link:
    name: str
    kind: str          # raft | grpc | client
    ends: frozenset[str]
    proxy_address: str


class ChaosCluster:
    def __init__(self, base: Path, toxiproxy: ToxiproxyClient, engines: Iterable[str], size: int = 3,
                 timing: Mapping[str, int | str] | None = None) -> None:
        self.cluster = LocalCluster(size=size, base_dir=base / "cluster", timing=dict(timing or {}), keep=True)
        self.toxiproxy = toxiproxy
        self.engines = list(engines)
        self.links: dict[str, Link] = {}
        self.client_addresses: dict[str, list[str]] = {}
        self._wire()

    @property
    def nodes(self) -> dict[str, LocalNode]:
        return self.cluster.nodes

    def _proxy(self, name: str, kind: str, ends: Iterable[str], upstream: str) -> str:
        proxy = self.toxiproxy.create_proxy(name.replace(":", "-").replace(">", "-to-").replace("~", "-"), upstream)
        address = f"127.0.0.1:{proxy.listen_port}"
        self.links[name] = Link(proxy.name, kind, frozenset(ends), address)
        return address

    def _wire(self) -> None:
        dial: dict[str, dict[str, str]] = {node_id: {} for node_id in self.nodes}
        for a, b in itertools.combinations(self.nodes.values(), 2):
            dialer, target = (a, b) if a.raft_address > b.raft_address else (b, a)
            dial[dialer.node_id][target.raft_address] = self._proxy(
                f"raft:{min(a.node_id, b.node_id)}~{max(a.node_id, b.node_id)}", "raft", (a.node_id, b.node_id),
                target.raft_address)
        for a, b in itertools.permutations(self.nodes.values(), 2):
            dial[a.node_id][b.grpc_address] = self._proxy(f"grpc:{a.node_id}>{b.node_id}", "grpc",
                                                          (a.node_id, b.node_id), b.grpc_address)
        for engine in self.engines:
            self.client_addresses[engine] = [
                self._proxy(f"client:{engine}>{node.node_id}", "client", (engine, node.node_id), node.grpc_address)
                for node in self.nodes.values()]
        for node in self.nodes.values():
            self.cluster.write_config(node, dial=dial[node.node_id])

    # ------------------------------------------------------------------ link groups

    def proxies(self, links: Iterable[Link]) -> list[str]:
        return sorted(link.name for link in links)

    def links_of(self, node_id: str, *, kinds: tuple[str, ...] = ("raft", "grpc", "client")) -> list[Link]:
        """Every link with `node_id` at one end: isolating it cuts all of them."""
        return [link for link in self.links.values() if node_id in link.ends and link.kind in kinds]

    def links_between(self, group: Iterable[str], others: Iterable[str],
                      kinds: tuple[str, ...] = ("raft", "grpc", "client")) -> list[Link]:
        """Links with one end in `group` and the other in `others` (engines or nodes)."""
        left, right = set(group), set(others)
        return [link for link in self.links.values() if link.kind in kinds
                and len(link.ends & left) == 1 and len(link.ends & right) == 1 and link.ends <= left | right]

    def raft_links(self) -> list[Link]:
        return [link for link in self.links.values() if link.kind in ("raft", "grpc")]

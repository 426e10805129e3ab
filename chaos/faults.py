"""The nemesis: fault kinds, each a context manager that injects the fault on entry and always
heals it on exit (even when the body raises), and the seeded schedule of a run.

A schedule is drawn from the seed alone (which faults, in which order, for how long, against
which target rank), so `--seed N` replays the same fault schedule. Targets are named by role
and rank ("the leader", "follower #1"), resolved against the cluster when the fault starts.
"""

from __future__ import annotations

import random
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos import toxiproxy
from chaos.topology import ChaosCluster
from coordinator.localcluster import ManagedProcess, wait_until
from coordinator.v1 import admin_pb2


class EngineHandle(ManagedProcess):
    """One chaos workload engine process."""

    def __init__(self, engine_id: str, addresses: list[str], history: Path, log_path: Path, seed: int,
                 ttl_ms: int) -> None:
        self.engine_id = engine_id
        self.history = history
        super().__init__([sys.executable, "-m", "chaos.engine", "--engine-id", engine_id, "--cluster",
                          ",".join(addresses), "--history", str(history), "--seed", str(seed), "--ttl-ms",
                          str(ttl_ms)], log_path)


@dataclass
class World:
    """What a fault can act on."""

    chaos: ChaosCluster
    toxi: toxiproxy.ToxiproxyClient
    engines: dict[str, EngineHandle]
    holder: Callable[[], str]                      # the engine holding the role now ("" if none)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def cluster(self) -> Any:
        return self.chaos.cluster

    def leader(self) -> str:
        return str(self.cluster.wait_for_leader(30))

    def followers(self) -> list[str]:
        leader = self.leader()
        return sorted(n for n, node in self.cluster.nodes.items() if n != leader and node.running())

    def voters(self) -> list[str]:
        return sorted(n for n, node in self.cluster.nodes.items() if node.running() and not n.startswith("dc4"))


Fault = Callable[[World, random.Random], Any]
FAULTS: dict[str, Fault] = {}


def fault(name: str) -> Callable[[Fault], Fault]:
    def register(function: Fault) -> Fault:
        FAULTS[name] = contextmanager(function)
        return FAULTS[name]
    return register


@contextmanager
def killed(world: World, nodes: list[str]) -> Iterator[None]:
    """SIGKILL `nodes`; restart them (with their data) on exit."""
    world.details["nodes" if len(nodes) > 1 else "node"] = nodes if len(nodes) > 1 else nodes[0]
    for node in nodes:
        world.cluster.kill(node)
    try:
        yield
    finally:
        for node in nodes:
            world.cluster.start_node(node)


@fault("kill-leader")
def kill_leader(world: World, rng: random.Random) -> Iterator[None]:
    with killed(world, [world.leader()]):
        yield


@fault("kill-follower")
def kill_follower(world: World, rng: random.Random) -> Iterator[None]:
    with killed(world, [rng.choice(world.followers())]):
        yield


@fault("kill-all")
def kill_all(world: World, rng: random.Random) -> Iterator[None]:
    with killed(world, world.voters()):
        yield


@fault("pause-leader")
def pause_leader(world: World, rng: random.Random) -> Iterator[None]:
    node = world.leader()
    world.details["node"] = node
    world.cluster.pause(node)
    try:
        yield
    finally:
        world.cluster.resume(node)


@fault("pause-engine")
def pause_engine(world: World, rng: random.Random) -> Iterator[None]:
    engine = world.holder() or rng.choice(sorted(world.engines))
    world.details["engine"] = engine
    world.engines[engine].signal(signal.SIGSTOP)
    try:
        yield
    finally:
        world.engines[engine].signal(signal.SIGCONT)


@fault("isolate")
def isolate(world: World, rng: random.Random) -> Iterator[None]:
    node = rng.choice(world.voters())
    world.details["node"] = node
    with toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_of(node))):
        yield


@fault("partial-partition")
def partial_partition(world: World, rng: random.Random) -> Iterator[None]:
    a, b = rng.sample(world.voters(), 2)
    world.details["link"] = f"{a}~{b}"
    with toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_between([a], [b], ("raft", "grpc")))):
        yield


@fault("split")
def split(world: World, rng: random.Random) -> Iterator[None]:
    """Minority / majority, with one engine stranded on each side."""
    voters = world.voters()
    minority = [rng.choice(voters)]
    majority = [n for n in voters if n not in minority]
    engines = sorted(world.engines)
    rng.shuffle(engines)
    world.details.update(minority=minority, majority=majority, minority_engine=engines[0])
    links = world.chaos.links_between(minority, majority, ("raft", "grpc"))
    links += world.chaos.links_between([engines[0]], majority, ("client",))
    for engine in engines[1:]:
        links += world.chaos.links_between([engine], minority, ("client",))
    with toxiproxy.cut(world.toxi, world.chaos.proxies(links)):
        yield


@fault("wan-latency")
def wan_latency(world: World, rng: random.Random) -> Iterator[None]:
    world.details.update(latency_ms=40, jitter_ms=20)
    with toxiproxy.latency(world.toxi, world.chaos.proxies(world.chaos.raft_links()), 40, 20):
        yield


@fault("bandwidth")
def bandwidth(world: World, rng: random.Random) -> Iterator[None]:
    world.details["rate_kb"] = 64
    with toxiproxy.bandwidth(world.toxi, world.chaos.proxies(world.chaos.raft_links()), 64):
        yield


@fault("slicer")
def slicer(world: World, rng: random.Random) -> Iterator[None]:
    world.details.update(average_size=64, size_variation=32, delay_us=500)
    with toxiproxy.slicer(world.toxi, world.chaos.proxies(world.chaos.raft_links()), 64, 32, 500):
        yield


@fault("reset-peer")
def reset_peer(world: World, rng: random.Random) -> Iterator[None]:
    node = rng.choice(world.voters())
    world.details.update(node=node, timeout_ms=300)
    with toxiproxy.reset_peer(world.toxi, world.chaos.proxies(world.chaos.links_of(node, kinds=("raft",))), 300):
        yield


@fault("blackhole")
def blackhole(world: World, rng: random.Random) -> Iterator[None]:
    node = rng.choice(world.voters())
    world.details["node"] = node
    with toxiproxy.blackhole(world.toxi, world.chaos.proxies(world.chaos.links_of(node))):
        yield


@fault("swizzle-clog")
def swizzle_clog(world: World, rng: random.Random) -> Iterator[None]:
    """Cut the links of a random subset of nodes one by one; heal them in a random order."""
    voters = world.voters()
    subset = rng.sample(voters, rng.randint(1, len(voters) - 1))
    heal_order = rng.sample(subset, len(subset))
    world.details.update(clogged=subset, healed_in_order=heal_order)
    cuts: dict[str, ExitStack] = {}
    try:
        for node in subset:
            cuts[node] = ExitStack()
            cuts[node].enter_context(toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_of(node))))
            time.sleep(rng.uniform(0.1, 0.4))
        yield
    finally:
        for node in heal_order:
            if node in cuts:
                cuts.pop(node).close()
                time.sleep(rng.uniform(0.05, 0.2))
        for remaining in cuts.values():  # only if a cut failed half-way above
            remaining.close()


@fault("membership")
def membership(world: World, rng: random.Random) -> Iterator[None]:
    """Add a fourth voter under load (as a learner first), then remove it again."""
    cluster = world.cluster
    node = cluster.nodes.get("dc4") or cluster.add_node_slot()
    node.extra_config = "join = true"
    voters = [n for nid, n in cluster.nodes.items() if nid != node.node_id]
    cluster.write_config(node, peers=voters)
    world.details["node"] = node.node_id
    cluster.start_node(node.node_id)
    try:
        wait_until(lambda: cluster.status(node.node_id).role == admin_pb2.LEARNER, 20, "the learner to serve")
        cluster.call("Admin", "AddMember", admin_pb2.AddMemberRequest(
            node_id=node.node_id, raft_address=node.raft_address, grpc_address=node.grpc_address))
        wait_until(lambda: cluster.status(node.node_id).role in (admin_pb2.FOLLOWER, admin_pb2.LEADER), 20,
                   "the new voter to serve")
        world.details["added"] = True
        yield
    finally:
        try:
            if cluster.leader_id() == node.node_id:
                cluster.call("Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest())
            members = cluster.call("Admin", "ListMembers", admin_pb2.ListMembersRequest()).members
            if any(m.node_id == node.node_id for m in members):
                cluster.call("Admin", "RemoveMember", admin_pb2.RemoveMemberRequest(node_id=node.node_id))
                world.details["removed"] = True
        finally:
            cluster.stop_node(node.node_id)
            shutil.rmtree(node.directory, ignore_errors=True)


@dataclass(frozen=True)
class Step:
    fault: str
    quiet_s: float     # normal operation before the fault
    hold_s: float      # how long the fault lasts
    seed: int          # the fault's own random choices (targets)


def make_schedule(scenario: str, seed: int, duration_s: float) -> list[Step]:
    """The fault schedule of a run: drawn from the seed only. `scenario` is a fault kind (repeated)
    or "mixed" (random kinds)."""
    if scenario != "mixed" and scenario not in FAULTS:
        raise ValueError(f"unknown scenario {scenario!r}; choose from mixed, all, {', '.join(sorted(FAULTS))}")
    rng = random.Random(seed)
    steps: list[Step] = []
    elapsed = 0.0
    while elapsed < duration_s or not steps:
        kind = rng.choice(sorted(FAULTS)) if scenario == "mixed" else scenario
        step = Step(kind, round(rng.uniform(0.5, 1.5), 2), round(rng.uniform(1.0, 3.0), 2), rng.randrange(2**31))
        steps.append(step)
        elapsed += step.quiet_s + step.hold_s
    return steps

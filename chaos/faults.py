"""The nemesis: fault kinds, each a context manager that injects the fault on entry and always
heals it on exit (even when the body raises), and the seeded schedule of a run.

A schedule is drawn from the seed alone (which faults, in which order, for how long, against
which target rank), so `--seed N` replays the same fault schedule. Targets are named by role
and rank ("the leader", "follower #1"), resolved against the cluster when the fault starts.

A fault records what it did in `world.details` (the nemesis history keeps it). A fault that
expects the cluster to do something in bounded time (step down, keep committing, repair a node)
measures it and records it under `details["bounds"]` as `{name: {"took_s": seconds or None,
"within_s": bound}}`; the checker's liveness verdict fails a run in which one was missed, so a
fault reports and the checker judges. A fault may also need the cluster configured for it
(`timing`, e.g. compaction that is frequent enough to ship snapshots): `cluster_timing` merges
what the faults of a schedule ask for.
"""

from __future__ import annotations

import json
import random
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from chaos import toxiproxy
from chaos.history import FAIL, INFO, OK, HistoryWriter
from chaos.topology import ChaosCluster
from coordinator.client import InvalidCommand, Refused
from coordinator.localcluster import LocalNode, ManagedProcess, wait_until
from coordinator.replication.membership import Reachability, refuse_add, refuse_remove
from coordinator.v1 import admin_pb2, admin_pb2_grpc, types_pb2


class EngineHandle(ManagedProcess):
    """One chaos workload engine process."""

    def __init__(
        self,
        engine_id: str,
        addresses: list[str],
        history: Path,
        log_path: Path,
        seed: int,
        ttl_ms: int,
        burst_orders: int = 1000,
    ) -> None:
        self.engine_id = engine_id
        self.history = history
        super().__init__(
            [
                sys.executable,
                "-m",
                "chaos.engine",
                "--engine-id",
                engine_id,
                "--cluster",
                ",".join(addresses),
                "--history",
                str(history),
                "--seed",
                str(seed),
                "--ttl-ms",
                str(ttl_ms),
                "--burst-orders",
                str(burst_orders),
            ],
            log_path,
        )

    def request_burst(self) -> int:
        """Asks the engine for a burst of orders (SIGUSR1; see chaos/engine.py). Returns where
        its history stood, for `burst_report`."""
        offset = self.history.stat().st_size if self.history.exists() else 0
        self.signal(signal.SIGUSR1)
        return offset

    def burst_report(self, offset: int, timeout_s: float) -> dict[str, Any]:
        """Waits for the engine to report, in its history after `offset`, the burst done.
        Returns that report (orders, accepted, abandoned, elapsed_s)."""

        def reported() -> dict[str, Any] | None:
            with open(self.history) as lines:
                lines.seek(offset)
                for line in lines:
                    event = json.loads(line)  # a line still being written raises, and is read again
                    if event["op"] == "burst" and event["type"] in (OK, FAIL):
                        return dict(event["value"])
            return None

        return wait_until(
            reported, timeout_s, f"{self.engine_id} to finish its burst of orders", interval_s=0.2
        )


@dataclass
class World:
    """What a fault can act on."""

    chaos: ChaosCluster
    toxi: toxiproxy.ToxiproxyClient
    engines: dict[str, EngineHandle]
    holder: Callable[[], str]  # the engine holding the role now ("" if none)
    details: dict[str, Any] = field(default_factory=dict)
    # where the nemesis records writes it makes itself
    nemesis: HistoryWriter | None = None

    @property
    def cluster(self) -> Any:
        return self.chaos.cluster

    @property
    def timing(self) -> Mapping[str, Any]:
        return dict(self.cluster.timing)

    def bound(self, name: str, took_s: float | None, within_s: float) -> None:
        """Records a measurement the checker holds to `within_s` (None: it never happened)."""
        self.details.setdefault("bounds", {})[name] = {"took_s": took_s, "within_s": within_s}

    def leader(self) -> str:
        return str(self.cluster.wait_for_leader(30))

    def followers(self) -> list[str]:
        leader = self.leader()
        return sorted(n for n, node in self.cluster.nodes.items() if n != leader and node.running())

    def voters(self) -> list[str]:
        return sorted(
            n
            for n, node in self.cluster.nodes.items()
            if node.running() and not n.startswith("dc4")
        )


Fault = Callable[[World, random.Random], Any]
FAULTS: dict[str, Fault] = {}
FAULT_TIMING: dict[str, dict[str, int]] = {}  # node [timing] a fault needs the cluster to run with


def fault(name: str, timing: Mapping[str, int] | None = None) -> Callable[[Fault], Fault]:
    def register(function: Fault) -> Fault:
        FAULTS[name] = contextmanager(function)
        if timing:
            FAULT_TIMING[name] = dict(timing)
        return FAULTS[name]

    return register


def cluster_timing(base: Mapping[str, int], faults: Iterable[str]) -> dict[str, int]:
    """The node timing of a run: `base`, with what each scheduled fault kind asks for."""
    timing = dict(base)
    for name in sorted(set(faults)):
        timing.update(FAULT_TIMING.get(name, {}))
    return timing


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


ENGINE_TTL_S = 1.0  # every chaos engine's lease (chaos/runner.py starts them with it)


def request_handoff(world: World, to_engine_id: str) -> str:
    """`coordinator engines handoff --to`: "ACCEPTED", or the reason it was refused."""
    try:
        world.cluster.call(
            "Admin", "RequestHandoff", admin_pb2.RequestHandoffRequest(to_engine_id=to_engine_id)
        )
    except Refused as refusal:
        return str(refusal.reason)
    return "ACCEPTED"


def seconds_until(
    condition: Callable[[], bool], within_s: float, what: str, interval_s: float = 0.1
) -> float | None:
    """Seconds until `condition` held (wait_until's polling), None if not within `within_s`."""
    started = time.monotonic()
    try:
        wait_until(condition, within_s, what, interval_s=interval_s)
    except TimeoutError:
        return None
    return round(time.monotonic() - started, 2)


@fault("handoff")
def handoff(world: World, rng: random.Random) -> Iterator[None]:
    """An operator's planned hand-offs while orders flow (issue 14, item 2). One to an engine
    that does not exist must be refused and leave the holder trading: it used to make the holder
    resign for nobody, and trading stopped. One to a live standby must be granted to it."""
    holder = world.holder()
    standbys = sorted(e for e in world.engines if e != holder)
    world.details.update(holder=holder, to=rng.choice(standbys) if standbys else "")
    world.details["stranger"] = request_handoff(world, "engine-typo")
    # the reservation of a wrongly accepted hand-off would last one TTL: look past it
    time.sleep(2 * ENGINE_TTL_S)
    kept = world.details["stranger"] == "INVALID_COMMAND" and world.holder() == holder
    world.bound(
        "a hand-off to a stranger is refused and the holder keeps trading",
        0.0 if kept else None,
        0.0,
    )
    world.details["standby"] = request_handoff(world, world.details["to"])
    took = seconds_until(
        lambda: world.holder() == world.details["to"],
        10 * ENGINE_TTL_S,
        f"{world.details['to']} to hold the role",
        interval_s=0.05,
    )
    world.bound("a hand-off to a live standby grants it", took, 3 * ENGINE_TTL_S)
    yield


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
    with toxiproxy.cut(
        world.toxi, world.chaos.proxies(world.chaos.links_between([a], [b], ("raft", "grpc")))
    ):
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
    with toxiproxy.reset_peer(
        world.toxi, world.chaos.proxies(world.chaos.links_of(node, kinds=("raft",))), 300
    ):
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
            cuts[node].enter_context(
                toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_of(node)))
            )
            time.sleep(rng.uniform(0.1, 0.4))
        yield
    finally:
        for node in heal_order:
            if node in cuts:
                cuts.pop(node).close()
                time.sleep(rng.uniform(0.05, 0.2))
        for remaining in cuts.values():  # only if a cut failed half-way above
            remaining.close()


# ----------------------------------------------------------------- cluster probes
# The harness talks to every node directly (not through the proxies), so it can still ask a node
# that the faults cut off what it believes.

STATUS_TIMEOUT_S = 0.5


def status_or_none(world: World, node_id: str) -> admin_pb2.StatusResponse | None:
    try:
        return world.cluster.status(node_id, timeout_s=STATUS_TIMEOUT_S)  # type: ignore[no-any-return]
    except grpc.RpcError:
        return None


def leader_among(world: World, nodes: Iterable[str], timeout_s: float) -> str:
    """The first of `nodes` that reports itself LEADER, waiting up to `timeout_s` (another node
    that still believes it leads, cut off elsewhere, is not asked)."""
    candidates = list(nodes)

    def found() -> str | None:
        for node_id in candidates:
            status = status_or_none(world, node_id)
            if status is not None and status.role == admin_pb2.LEADER:
                return node_id
        return None

    return wait_until(found, timeout_s, f"a Raft leader among {candidates}")


def highest_commit(world: World) -> int:
    """The highest commit index any running node reports (the live leader's, in effect)."""
    found = [s.commit_index for s in world.cluster.statuses().values()]
    return max(found) if found else 0


def commits_resume(world: World, entries: int, within_s: float) -> float | None:
    """Seconds until the cluster commits `entries` more entries (the engines' orders and
    keep-alives), or None if it does not within `within_s`: a wedged cluster commits nothing."""
    base = highest_commit(world)
    return seconds_until(
        lambda: highest_commit(world) >= base + entries, within_s, f"{entries} more commits"
    )


def leader_view(world: World) -> admin_pb2.StatusResponse | None:
    """The Raft leader's Status (any running voter's when none leads)."""
    statuses = {n: s for n, s in world.cluster.statuses().items() if n in world.voters()}
    leaders = [s for s in statuses.values() if s.role == admin_pb2.LEADER]
    return leaders[0] if leaders else next(iter(statuses.values()), None)


def members_seen(world: World) -> set[str]:
    """The member ids the Raft leader lists (any running voter's view when none leads)."""
    view = leader_view(world)
    return {m.node_id for m in view.members} if view is not None else set()


def predicted_change(world: World, change: str, node: LocalNode) -> str:
    """What the coordinator should answer, by the one membership rule (replication/membership.py)
    applied to the leader's view now: "refused" or "completed"."""
    view = leader_view(world)
    if view is None:
        return "refused"
    now = Reachability.of(view.members)
    if change == "add":
        refusal = refuse_add(now, node.node_id)
    else:
        target = next((m for m in view.members if m.node_id == node.node_id), None)
        refusal = refuse_remove(
            now, node.node_id, target is not None and (target.connected or target.is_self)
        )
    return "refused" if refusal is not None else "completed"


# -------------------------------------------------------------------- membership

MEMBERSHIP_CALL_BUDGET_S = 12.0  # an add or remove that takes longer is reported, not waited for
COMMITS_RESUME_WITHIN_S = 5.0  # after a membership change (or its refusal) writes commit again


def start_joiner(world: World) -> LocalNode:
    """Starts the joiner (dc4) as a learner with a fresh data directory; waits until it serves."""
    node = world.chaos.joiner()
    shutil.rmtree(node.directory, ignore_errors=True)
    node.extra_config = "join = true"
    world.chaos.write_joiner_config(node)
    world.details["joiner"] = node.node_id
    world.cluster.start_node(node.node_id)
    wait_until(
        lambda: world.cluster.status(node.node_id).role == admin_pb2.LEARNER,
        20,
        "the learner to serve",
    )
    return node


def add_joiner(world: World, node: LocalNode) -> None:
    """Adds the learner `node` as a voter, on a healthy cluster, and waits until it is one."""
    world.cluster.call(
        "Admin",
        "AddMember",
        admin_pb2.AddMemberRequest(
            node_id=node.node_id, raft_address=node.raft_address, grpc_address=node.grpc_address
        ),
    )
    wait_until(
        lambda: world.cluster.status(node.node_id).role in (admin_pb2.FOLLOWER, admin_pb2.LEADER),
        20,
        "the new voter to serve",
    )
    world.details["added"] = True


def retire_joiner(world: World, node: LocalNode) -> None:
    """Removes `node` from the membership if it is in it (moving leadership off it first), then
    stops it and deletes its data (its apply trace stays, for the checker)."""
    cluster = world.cluster
    try:
        if cluster.leader_id() == node.node_id:
            cluster.call("Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest())
        members = cluster.call("Admin", "ListMembers", admin_pb2.ListMembersRequest()).members
        if any(m.node_id == node.node_id for m in members):
            try:
                cluster.call(
                    "Admin", "RemoveMember", admin_pb2.RemoveMemberRequest(node_id=node.node_id)
                )
                world.details["removed"] = True
            # a node just healed listed it from a stale view: already removed
            except InvalidCommand:
                pass
    finally:
        cluster.stop_node(node.node_id)
        shutil.rmtree(node.directory, ignore_errors=True)


def attempt_change(world: World, change: str, node: LocalNode) -> str:
    """Asks the cluster to add or remove `node` as an operator would (`coordinator members`), and
    records the answer. Returns "completed" if the leader's membership then shows the change,
    "refused" if the coordinator refused it (and nothing changed), else "unknown". The answer
    alone cannot tell: a retried add that had been applied is refused as "already a member"."""
    request: Any
    if change == "add":
        method, request = (
            "AddMember",
            admin_pb2.AddMemberRequest(
                node_id=node.node_id, raft_address=node.raft_address, grpc_address=node.grpc_address
            ),
        )
    else:
        method, request = "RemoveMember", admin_pb2.RemoveMemberRequest(node_id=node.node_id)
    predicted = predicted_change(world, change, node)
    started = time.monotonic()
    try:
        world.cluster.call("Admin", method, request, budget_s=MEMBERSHIP_CALL_BUDGET_S)
        answer = "ok"
    except Refused as exc:
        answer = f"refused {exc.reason}: {exc.message}"
    # a timeout or no quorum: the outcome is read from the membership below
    except Exception as exc:
        answer = f"error {type(exc).__name__}: {exc}"
    member = node.node_id in members_seen(world)
    done = member if change == "add" else not member
    outcome = "completed" if done else "refused" if answer.startswith("refused") else "unknown"
    # The prediction is recorded, not enforced: the leader may learn of a dead link a moment after
    # the harness's view of it, so the two can honestly differ by one connection state.
    world.details.update(
        {
            f"{change}_answer": answer[:300],
            f"{change}_outcome": outcome,
            f"{change}_predicted": predicted,
            f"{change}_call_s": round(time.monotonic() - started, 2),
        }
    )
    return outcome


def change_then_watch_commits(world: World, change: str, node: LocalNode) -> None:
    """A membership change tried while a voter is down or cut off: whether it completes or is
    refused, the cluster must commit again within COMMITS_RESUME_WITHIN_S (never wedge)."""
    attempt_change(world, change, node)
    world.bound(
        "commits_resume_s",
        commits_resume(world, 5, COMMITS_RESUME_WITHIN_S),
        COMMITS_RESUME_WITHIN_S,
    )


@fault("membership")
def membership(world: World, rng: random.Random) -> Iterator[None]:
    """Add a fourth voter under load (as a learner first), then remove it again."""
    node = start_joiner(world)
    try:
        add_joiner(world, node)
        yield
    finally:
        retire_joiner(world, node)


@fault("add-with-voter-down")
def add_with_voter_down(world: World, rng: random.Random) -> Iterator[None]:
    """The documented way to replace a lost data center, tried while it is still lost: SIGKILL a
    follower, then add a learner. Three voters with one down may refuse the add (a fourth voter
    would need three acknowledgements from two live voters) or complete it; either way writes
    must keep committing (issue 8, defect 3: the add used to wedge the cluster)."""
    node = start_joiner(world)
    try:
        leader = world.leader()
        # a voter, never the learner
        victim = rng.choice([n for n in world.voters() if n != leader])
        with killed(world, [victim]):
            change_then_watch_commits(world, "add", node)
            yield
    finally:
        retire_joiner(world, node)


@fault("remove-under-partition")
def remove_under_partition(world: World, rng: random.Random) -> Iterator[None]:
    """Grow to four voters, cut one of the original three off (perhaps the leader), then remove
    the fourth: three of four are reachable and two of the remaining three will be, so the
    removal may complete or be refused, but must never wedge; heal; end with three voters."""
    node = start_joiner(world)
    try:
        add_joiner(world, node)
        # a voter forwarding to it would bypass the cut
        if world.cluster.leader_id() == node.node_id:
            world.cluster.call("Admin", "TransferLeadership", admin_pb2.TransferLeadershipRequest())
        cut_off = rng.choice(world.voters())
        world.details["cut_off"] = cut_off
        with toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_of(cut_off))):
            reachable = [n for n in (*world.voters(), node.node_id) if n != cut_off]
            world.details["leader"] = leader_among(world, reachable, 10)  # the one that can decide
            change_then_watch_commits(world, "remove", node)
            yield
    finally:
        retire_joiner(world, node)


# ------------------------------------------------------------- a divergent leader

STRANDED_WRITES = 3  # Admin writes sent straight to the leader being cut off
STRANDED_DEADLINE_S = 0.3  # it cannot commit them; the harness does not wait longer
# the engines' links to it stay up this long, so their writes land too
CLIENT_GRACE_S = 0.2
BURST_WAIT_S = 60.0  # the majority's burst of orders (chaos/engine.py caps it at 40 s)
BURST_WITHIN_S = 20.0  # an active engine's burst of 1,000 orders (5-6 s here)
# after healing, the stranded node applies what the majority committed
REPAIR_WITHIN_S = 15.0


def nemesis_limits(tag: str) -> admin_pb2.SetRiskLimitsRequest:
    """A write no engine can see: limits for an account no engine trades."""
    return admin_pb2.SetRiskLimitsRequest(
        account=f"NEMESIS-{tag}",
        instrument="*",
        limits=types_pb2.RiskLimits(order_quantity_max="1"),
    )


def strand_writes(world: World, node_id: str, count: int) -> int:
    """Sends `count` Admin writes straight to `node_id`, which still believes it leads but lost
    its peers: it appends them and cannot commit them. Each goes into the nemesis history and
    ends `info` (maybe applied: it may yet be, if a bug lets the node apply its own tail).
    Returns the node's uncommitted tail (last log index minus commit index) afterwards."""
    stub = admin_pb2_grpc.AdminStub(world.cluster.channel(node_id))  # type: ignore[no-untyped-call]
    calls = []
    for number in range(count):
        request = nemesis_limits(f"{node_id}-{number}")
        op_id = (
            world.nemesis.invoke("set-risk-limits", 0, request.account, node=node_id)
            if world.nemesis
            else 0
        )
        calls.append(
            (
                op_id,
                request.account,
                stub.SetRiskLimits.future(request, timeout=STRANDED_DEADLINE_S),
            )
        )
    for op_id, account, call in calls:
        error = call.exception()
        if world.nemesis is not None:
            outcome = OK if error is None else INFO
            world.nemesis.write(
                outcome,
                "set-risk-limits",
                op_id,
                0,
                account,
                code=str(error.code()) if isinstance(error, grpc.Call) else "",
            )
    status = status_or_none(world, node_id)
    return int(status.last_log_index - status.commit_index) if status is not None else -1


def drive_majority(world: World, majority: list[str]) -> None:
    """Has the active engine send a burst of orders, so the majority's log runs several
    AppendEntries batches past the stranded node. Every running engine is asked: the role's
    holder as the leader lists it may be an engine that already demoted itself (its lease has
    not yet expired on the coordinator), and only an active engine's orders leave it; an idle
    one gives its burst up after a few seconds (chaos/engine.py)."""
    leader = leader_among(world, majority, 15)
    wait_until(
        lambda: world.cluster.status(leader, timeout_s=STATUS_TIMEOUT_S).holder_id,
        15,
        "an engine to hold the role on the majority side",
    )
    before = world.cluster.status(leader).commit_index
    asked = {
        e: engine.request_burst()
        for e, engine in sorted(world.engines.items())
        if engine.running() and not engine.paused
    }
    reports = {
        e: world.engines[e].burst_report(offset, BURST_WAIT_S) for e, offset in asked.items()
    }
    after = max(
        (s.commit_index for n, s in world.cluster.statuses().items() if n in majority),
        default=before,
    )
    world.details.update(
        new_leader=leader,
        burst_accepted={e: r.get("accepted") for e, r in reports.items()},
        burst_s=max((r.get("elapsed_s") or 0 for r in reports.values()), default=0),
        majority_entries=after - before,
    )
    # An engine that was active sends its burst well within BURST_WITHIN_S. One that ran into
    # its budget was stuck: its order calls waited on a stream relayed into the stranded leader
    # (the history that found rule 4 of client/order_stream.py and the relay's leader watch).
    for engine_id, report in sorted(reports.items()):
        if not report.get("abandoned"):
            world.bound(f"burst_s_{engine_id}", report.get("elapsed_s"), BURST_WITHIN_S)


def measure_repair(world: World, node_id: str, trace_offset: int) -> None:
    """After healing: how long until `node_id` has applied what the majority had committed, and
    whether it got there through a snapshot (an `S` row in its apply trace)."""
    target = highest_commit(world)
    took_s = seconds_until(
        lambda: world.cluster.status(node_id, timeout_s=STATUS_TIMEOUT_S).applied_index >= target,
        REPAIR_WITHIN_S,
        f"{node_id} to apply index {target}",
    )
    world.bound("repair_s", took_s, REPAIR_WITHIN_S)
    trace = world.chaos.trace_path(node_id)
    if trace.exists():
        with open(trace) as rows:
            rows.seek(trace_offset)
            world.details["repaired_by_snapshot"] = any(row.startswith("S ") for row in rows)


@contextmanager
def divergent_leader_cut(world: World) -> Iterator[str]:
    """Partitions the Raft leader from its peers and strands a few writes on it (Admin writes
    sent to it directly, and whatever the engines send it during CLIENT_GRACE_S), then cuts its
    client links too and drives the majority past it; heals on exit and measures the repair.

    The peer links are blackholed, not cut: the connections stay open and drop what they carry,
    as in a silent WAN partition, so the new leader goes on sending to the stranded node for a
    while and moves its nextIndex past the divergence. A cut closes the connections at once and
    leaves nextIndex at the divergence point, where one AppendEntries repairs the log: that
    partition would never have found defect 2 (pipelined resets that livelock the repair)."""
    old = world.leader()
    majority = [n for n in world.voters() if n != old]
    world.details.update(node=old, majority=majority, partition="blackhole")
    trace = world.chaos.trace_path(old)
    cuts = ExitStack()
    try:
        cuts.enter_context(
            toxiproxy.blackhole(
                world.toxi, world.chaos.proxies(world.chaos.links_of(old, kinds=("raft", "grpc")))
            )
        )
        tail = strand_writes(world, old, STRANDED_WRITES)
        time.sleep(CLIENT_GRACE_S)
        cuts.enter_context(
            toxiproxy.cut(
                world.toxi, world.chaos.proxies(world.chaos.links_of(old, kinds=("client",)))
            )
        )
        status = status_or_none(world, old)
        world.details.update(
            stranded_tail=tail, stranded_last_index=status.last_log_index if status else None
        )
        drive_majority(world, majority)
        yield old
        # before healing: what it applies from now on
        offset = trace.stat().st_size if trace.exists() else 0
    finally:
        cuts.close()
    measure_repair(world, old, offset)


@fault("divergent-leader")
def divergent_leader(world: World, rng: random.Random) -> Iterator[None]:
    """Issue 8, defects 1 and 2: a deposed leader with an uncommitted tail, repaired by
    AppendEntries over a divergence longer than one batch."""
    with divergent_leader_cut(world):
        yield


@fault("snapshot-to-divergent", timing={"compaction_min_entries": 500})
def snapshot_to_divergent(world: World, rng: random.Random) -> Iterator[None]:
    """The same, with compaction every 500 entries: the majority's leader has compacted past the
    deposed leader's log, so it repairs it with a snapshot (issue 8, defect 1: a snapshot chunk
    must not let a follower apply its own unverified tail)."""
    with divergent_leader_cut(world):
        leader = leader_among(world, world.details["majority"], 5)
        world.details["leader_first_log_index"] = world.cluster.status(leader).first_log_index
        yield


# -------------------------------------------------------------- a slow-disk leader

FSYNC_DELAY_MS = 160  # every tick of a leader that writes at all takes this long
FAILPOINT_POLL_S = 0.2  # how often a node re-reads its failpoint file
PROBE_INTERVAL_S = 0.05  # writes keep arriving at the cut-off leader, so every tick syncs
STEP_DOWN_WAIT_S = 6.0  # how long the harness watches before it records "never"
ELECTED_WITHIN_S = 5.0


@contextmanager
def probing_writes(world: World, node_id: str, limit: int = 400) -> Iterator[list[int]]:
    """Keeps Admin writes arriving at `node_id` (directly, fire and forget) while the body runs:
    a leader with nothing to write would never touch its slow disk. Yields the count sent."""
    stop, sent = threading.Event(), [0]
    stub = admin_pb2_grpc.AdminStub(world.cluster.channel(node_id))  # type: ignore[no-untyped-call]

    def send() -> None:
        while sent[0] < limit and not stop.is_set():
            stub.SetRiskLimits.future(
                nemesis_limits(f"probe-{sent[0] % 8}"), timeout=STRANDED_DEADLINE_S
            )
            sent[0] += 1
            stop.wait(PROBE_INTERVAL_S)

    thread = threading.Thread(target=send, name=f"probe-{node_id}", daemon=True)
    thread.start()
    try:
        yield sent
    finally:
        stop.set()
        thread.join(5)


def watch_step_down(
    world: World, old: str, majority: list[str], cut_at: float
) -> tuple[float | None, float | None]:
    """Seconds from `cut_at` until `old` stopped reporting LEADER in its own Status, and until one
    of `majority` reported LEADER; None for what did not happen within STEP_DOWN_WAIT_S."""
    step_down_s: float | None = None
    elected_s: float | None = None
    for _ in range(int(STEP_DOWN_WAIT_S / PROBE_INTERVAL_S)):
        now = time.monotonic()
        if now - cut_at > STEP_DOWN_WAIT_S:
            break
        if step_down_s is None:
            status = status_or_none(world, old)
            if status is not None and status.role != admin_pb2.LEADER:
                step_down_s = round(now - cut_at, 2)
        if elected_s is None and any(
            (s := status_or_none(world, n)) is not None and s.role == admin_pb2.LEADER
            for n in majority
        ):
            elected_s = round(now - cut_at, 2)
        if step_down_s is not None and elected_s is not None:
            break
        time.sleep(PROBE_INTERVAL_S)
    return step_down_s, elected_s


@fault("slow-disk-leader")
def slow_disk_leader(world: World, rng: random.Random) -> Iterator[None]:
    """Issue 8, defect 6: slow every sync on the leader (a failpoint), then cut all its links.
    It must step down (check-quorum) within two election timeouts whatever its tick rate, while
    the majority elects a new leader. The harness polls the old leader's own Status."""
    old = world.leader()
    majority = [n for n in world.voters() if n != old]
    # the runner writes every timing key
    election_max_s = float(world.timing["election_max_ms"]) / 1000
    step_down_within_s = round(2 * election_max_s + 2 * FSYNC_DELAY_MS / 1000, 2)
    world.details.update(node=old, fsync_delay_ms=FSYNC_DELAY_MS)
    world.chaos.set_failpoints(old, {"fsync_delay_ms": FSYNC_DELAY_MS})
    try:
        time.sleep(FAILPOINT_POLL_S + 0.1)
        with toxiproxy.cut(world.toxi, world.chaos.proxies(world.chaos.links_of(old))):
            cut_at = time.monotonic()
            with probing_writes(world, old) as sent:
                step_down_s, elected_s = watch_step_down(world, old, majority, cut_at)
            world.details.update(probe_writes=sent[0], step_down_s=step_down_s, elected_s=elected_s)
            world.bound("step_down_s", step_down_s, step_down_within_s)
            world.bound("majority_elected_s", elected_s, ELECTED_WITHIN_S)
            yield
    finally:
        world.chaos.set_failpoints(old, {})


STALL_ELECTION_TIMEOUTS = 1.5  # every node's stall, in election_max_ms


@fault("stall-all")
def stall_all(world: World, rng: random.Random) -> Iterator[None]:
    """Every node's Raft thread stalls once, within 0.2 s of the others, for 1.5 election
    timeouts: what a snapshot of a large state does, since every node compacts at about the same
    log index (`coordinator bench` saw 0.15-0.55 s at 15-80k orders, and leader changes). The
    leader stalled with its followers, so none of them heard silence: the same leader must lead
    again, in the same term, and commit, within the bound (before syncobj_patch's
    `_discount_own_stall`, the followers deposed it: a new term, so it never did)."""
    leader = world.leader()
    before = world.cluster.status(leader)
    election_max_ms = int(world.timing["election_max_ms"])
    stall_ms = int(STALL_ELECTION_TIMEOUTS * election_max_ms)
    token = rng.randrange(1 << 30)
    world.details.update(node=leader, term=before.term, stall_ms=stall_ms)
    start_in_s = 2 * FAILPOINT_POLL_S  # every node has read its failpoints by then
    stall = {
        "tick_stall_ms": stall_ms,
        "tick_stall_at_ns": time.time_ns() + int(start_in_s * 1e9),
        "tick_stall_id": token,
    }
    for node in world.voters():
        world.chaos.set_failpoints(node, stall)
    try:
        time.sleep(start_in_s + stall_ms / 1000)

        window_s = 2 * election_max_ms / 1000

        def deposed() -> bool:  # an unanswered Status proves nothing either way
            status = status_or_none(world, leader)
            return status is not None and (
                status.term != before.term or status.role != admin_pb2.LEADER
            )

        def committed() -> bool:
            status = status_or_none(world, leader)
            return status is not None and status.commit_index > before.commit_index

        deposed_s = seconds_until(deposed, window_s, f"{leader} to be deposed")
        commits_s = seconds_until(committed, window_s, f"{leader} to commit")
        after = status_or_none(world, leader)
        world.details.update(deposed_after_s=deposed_s, term_after=after.term if after else None)
        # deposed within the window: the bound fails as "never happened"
        world.bound("same_leader_commits_s", None if deposed_s is not None else commits_s, window_s)
        yield
    finally:
        for node in world.voters():
            world.chaos.set_failpoints(node, {})


@dataclass(frozen=True)
class Step:
    fault: str
    quiet_s: float  # normal operation before the fault
    hold_s: float  # how long the fault lasts
    seed: int  # the fault's own random choices (targets)


def make_schedule(scenario: str, seed: int, duration_s: float) -> list[Step]:
    """The fault schedule of a run: drawn from the seed only. `scenario` is a fault kind (repeated)
    or "mixed" (random kinds)."""
    if scenario != "mixed" and scenario not in FAULTS:
        raise ValueError(
            f"unknown scenario {scenario!r}; choose from mixed, all, {', '.join(sorted(FAULTS))}"
        )
    rng = random.Random(seed)
    steps: list[Step] = []
    elapsed = 0.0
    while elapsed < duration_s or not steps:
        kind = rng.choice(sorted(FAULTS)) if scenario == "mixed" else scenario
        step = Step(
            kind,
            round(rng.uniform(0.5, 1.5), 2),
            round(rng.uniform(1.0, 3.0), 2),
            rng.randrange(2**31),
        )
        steps.append(step)
        elapsed += step.quiet_s + step.hold_s
    return steps

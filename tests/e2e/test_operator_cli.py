"""The operator CLI, driven as a person on call would drive it, against real local clusters."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from coordinator.client import (
    CoordinatorClient,
    EngineSession,
    Halted,
    Refused,
    RetryPolicy,
    Side,
    StaleEpoch,
)
from coordinator.client.policy import campaign_request
from coordinator.localcluster import LocalCluster, LocalNode, free_ports, wait_until
from coordinator.v1 import admin_pb2
from tests.cluster_calls import MakeCluster, Writer, submit

pytestmark = pytest.mark.cluster


def cli(
    cluster: LocalCluster | None, *args: str, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ}
    if cluster is not None:
        env["COORDINATOR_CLUSTER"] = ",".join(cluster.addresses())
    return subprocess.run(
        [sys.executable, "-m", "coordinator", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    )
    return result.stdout


@contextmanager
def steady_writer(cluster: LocalCluster) -> Iterator[Writer]:
    """An engine session that submits orders back to back, already committing."""
    client = CoordinatorClient(cluster.addresses(), retry=RetryPolicy(budget_ms=20_000))
    with EngineSession(client, "writer", ttl_ms=5000) as session:
        assert session.wait_active(15) and session.epoch is not None
        writer = Writer(
            client,
            session.epoch,
            "w",
            submit_one=lambda cid: session.submit_order(cid, "A1", "BTC-USD", Side.BUY, "1", "100"),
        )
        with writer.running():
            wait_until(lambda: writer.committed > 50, 20, "the writer to commit")
            yield writer


def wait_until_disconnected(cluster: LocalCluster, node_id: str) -> None:
    """Until `coordinator members list` shows the leader no longer connected to `node_id`."""

    def disconnected() -> bool:
        members = json.loads(ok(cli(cluster, "members", "list", "--json")))
        return not any(m["node_id"] == node_id and m["connected_to_leader"] for m in members)

    wait_until(disconnected, 15, f"the leader to notice {node_id} is gone")


def add_member_request(node: LocalNode) -> admin_pb2.AddMemberRequest:
    """The AddMember call for `node`, as the CLI's `members add` sends it."""
    return admin_pb2.AddMemberRequest(
        node_id=node.node_id, raft_address=node.raft_address, grpc_address=node.grpc_address
    )


def add_member(
    cluster: LocalCluster, node: LocalNode, *args: str
) -> subprocess.CompletedProcess[str]:
    """`coordinator members add` for `node`, as an operator types it."""
    return cli(
        cluster,
        "members",
        "add",
        node.node_id,
        "--raft",
        node.raft_address,
        "--grpc",
        node.grpc_address,
        *args,
    )


def start_learner(cluster: LocalCluster) -> LocalNode:
    node = cluster.add_node_slot()
    node.extra_config = "join = true"
    cluster.write_config(node, peers=[n for n in cluster.nodes.values() if n is not node])
    cluster.start_node(node.node_id)
    wait_until(
        lambda: cluster.status(node.node_id).node_id == node.node_id,
        20,
        "the learner to serve gRPC",
    )
    return node


def test_a_fourth_node_joins_and_leaves_under_write_load_without_a_write_stall(
    make_cluster: MakeCluster,
) -> None:
    """Writes keep committing, and none fails, while a fourth node catches up as a learner, is
    promoted and is removed. (How long the longest pause was is printed, not asserted: speed is
    for `coordinator bench`; a CPU hiccup on a shared machine is not a stall.)"""
    cluster = make_cluster().start()
    with steady_writer(cluster) as writer:
        learner = start_learner(cluster)
        before = writer.committed
        added = ok(add_member(cluster, learner))
        assert f"{learner.node_id} is a voter" in added
        assert writer.committed > before, (
            "no write committed while the new node caught up and was promoted"
        )
        members = json.loads(ok(cli(cluster, "members", "list", "--json")))
        assert {m["node_id"] for m in members} == {"dc1", "dc2", "dc3", "dc4"}
        assert all(m["connected_to_leader"] for m in members)
        before = writer.committed
        wait_until(lambda: writer.committed > before + 50, 20, "writes with four voters")
        before = writer.committed
        removed = ok(cli(cluster, "members", "remove", learner.node_id))
        assert "dc4 removed" in removed
        assert writer.committed > before, "no write committed during the removal"
        before = writer.committed
        wait_until(lambda: writer.committed > before + 50, 20, "writes after the removal")
    cluster.stop_node(learner.node_id)
    assert writer.failures == []
    print(f"longest pause between committed writes: {writer.longest_gap_s * 1000:.0f} ms")


def test_removing_the_raft_leader_moves_leadership_first(make_cluster: MakeCluster) -> None:
    cluster = make_cluster().start()
    leader = cluster.wait_for_leader()
    out = ok(cli(cluster, "members", "remove", leader))
    assert "was the Raft leader; leadership moved to" in out
    cluster.stop_node(leader)
    remaining = json.loads(ok(cli(cluster, "members", "list", "--json")))
    assert leader not in {m["node_id"] for m in remaining} and len(remaining) == 2
    status = json.loads(ok(cli(cluster, "status", "--json")))
    assert status["raft_leader"] in {"dc1", "dc2", "dc3"} - {leader}


def test_a_removal_that_would_leave_no_reachable_majority_is_refused(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    leader = cluster.wait_for_leader()
    down, healthy = [n for n in cluster.nodes if n != leader]
    cluster.kill(down)
    wait_until_disconnected(cluster, down)
    refused = cli(cluster, "members", "remove", healthy)
    assert refused.returncode == 1
    assert "MEMBERSHIP_REFUSED" in refused.stderr and "majority" in refused.stderr
    assert f"{healthy} removed" not in refused.stdout, refused.stdout
    members = {m["node_id"] for m in json.loads(ok(cli(cluster, "members", "list", "--json")))}
    assert members == {"dc1", "dc2", "dc3"}, "the refused removal changed the membership"
    ok(cli(cluster, "members", "remove", down))  # removing the dead one is safe: 2 of 2 reachable
    members = {m["node_id"] for m in json.loads(ok(cli(cluster, "members", "list", "--json")))}
    assert members == {leader, healthy}


def test_adding_a_node_while_a_voter_is_down_is_refused_and_the_cluster_keeps_committing(
    make_cluster: MakeCluster,
) -> None:
    """Issue 8, defect 3: with one voter of three down, an add made 4 voters of which 2 could
    acknowledge (the learner cannot until it is promoted): the add applied, then nothing
    committed until the dead voter came back. It is refused instead, naming the way out."""
    cluster = make_cluster().start()
    leader = cluster.wait_for_leader()
    down = next(n for n in cluster.nodes if n != leader)
    cluster.kill(down)
    wait_until_disconnected(cluster, down)
    learner = start_learner(cluster)
    refused = add_member(cluster, learner, "--timeout", "20")
    assert refused.returncode == 1, f"exit {refused.returncode}\n{refused.stdout}\n{refused.stderr}"
    assert "MEMBERSHIP_REFUSED" in refused.stderr and "members remove" in refused.stderr
    # the leader's own check, without the CLI's
    with pytest.raises(Refused, match="members remove") as direct:
        cluster.call(
            "Admin",
            "AddMember",
            add_member_request(learner),
        )
    assert direct.value.reason == "MEMBERSHIP_REFUSED"
    ok(cli(cluster, "halt", "--reason", "still committing"))
    ok(cli(cluster, "resume"))
    members = {m["node_id"] for m in json.loads(ok(cli(cluster, "members", "list", "--json")))}
    assert members == {"dc1", "dc2", "dc3"}
    # the documented way: remove the dead voter, then add
    ok(cli(cluster, "members", "remove", down))
    out = ok(add_member(cluster, learner))
    assert f"{learner.node_id} is a voter" in out


def test_a_voter_restarted_with_an_emptied_data_directory_refuses_to_start(
    make_cluster: MakeCluster,
) -> None:
    """Issue 8, defect 9: it came back at term 0 with no vote and no log, ready to vote for any
    candidate. Only the first start of a new cluster (--bootstrap) may create a voter's data."""
    import shutil

    cluster = make_cluster().start()
    leader = cluster.wait_for_leader()
    victim = next(n for n in cluster.nodes if n != leader)
    cluster.kill(victim)
    shutil.rmtree(cluster.nodes[victim].data_dir)
    cluster.start_node(victim)
    process = cluster.nodes[victim].process
    assert process is not None and process.wait(30) == 2
    tail = cluster.log_tail(victim, 20)
    assert "no log and no vote" in tail and "--bootstrap" in tail, tail
    assert not cluster.nodes[victim].data_dir.exists()
    ok(cli(cluster, "halt", "--reason", "the other two still commit"))


def test_a_learner_added_the_moment_it_serves_is_promoted(make_cluster: MakeCluster) -> None:
    """A script that adds a learner as soon as it answers (before it heard from the leader) made
    the amnesia guard take it for a voter that lost its data: it was never promoted. This end to
    end check hits that race only sometimes; test_membership_identity.py reproduces it every
    time."""
    cluster = make_cluster().start()
    learner = start_learner(cluster)
    cluster.call(
        "Admin",
        "AddMember",
        add_member_request(learner),
    )
    wait_until(
        lambda: cluster.status(learner.node_id).role in (admin_pb2.FOLLOWER, admin_pb2.LEADER),
        20,
        "the learner to be promoted",
    )


def test_halt_stops_new_orders_everywhere_and_resume_lets_them_in(
    make_cluster: MakeCluster,
) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    with EngineSession(client, "eng-a", ttl_ms=5000) as session:
        assert session.wait_active(10)
        session.submit_order("before", "A1", "BTC-USD", Side.BUY, "1", "100")
        assert "trading halted" in ok(cli(cluster, "halt", "--reason", "drill 42"))
        status = json.loads(ok(cli(cluster, "status", "--json")))
        assert status["halted"] and status["halt_reason"] == "drill 42"
        with pytest.raises(Halted):
            session.submit_order("during", "A1", "BTC-USD", Side.BUY, "1", "100")
        assert session.cancel_order("before").order.cancel_requested  # cancels still go through
        ok(cli(cluster, "resume"))
        session.submit_order("after", "A1", "BTC-USD", Side.BUY, "1", "100")
    open_orders = json.loads(ok(cli(cluster, "orders", "list", "--json")))
    assert [o["client_order_id"] for o in open_orders] == ["before", "after"]


def test_a_planned_handoff_grants_the_named_engine_next(make_cluster: MakeCluster) -> None:
    cluster = make_cluster().start()
    a = EngineSession(CoordinatorClient(cluster.addresses()), "eng-a", ttl_ms=3000).start()
    assert a.wait_active(10)
    b = EngineSession(CoordinatorClient(cluster.addresses()), "eng-b", ttl_ms=3000).start()
    c = EngineSession(CoordinatorClient(cluster.addresses()), "eng-c", ttl_ms=3000).start()
    try:
        out = json.loads(ok(cli(cluster, "engines", "handoff", "--to", "eng-b", "--json")))
        assert out["to"] == "eng-b" and out["from"] == "eng-a"
        assert out["gap_ms"] is not None
        engines = json.loads(ok(cli(cluster, "engines", "--json")))
        assert engines["holder"] == "eng-b" and engines["epoch"] == 2
        audit = [
            json.loads(line) for line in ok(cli(cluster, "audit", "export", "--json")).splitlines()
        ]
        ends = [
            (e["command"], e["engine_id"], e["outcome"])
            for e in audit
            if e["command"] in ("Resign", "Expire")
        ]
        assert ends == [("Resign", "eng-a", "ACCEPTED")], ends  # handed over, not left to expire
    finally:
        for session in (a, b, c):
            session.close()


def campaigned(cluster: LocalCluster, engine_id: str) -> bool:
    """Whether the audit trail has a campaign of `engine_id` that was not granted."""
    audit = ok(cli(cluster, "audit", "export", "--json")).splitlines()
    return any(
        e["command"] == "Campaign" and e["engine_id"] == engine_id and e["outcome"] != "GRANTED"
        for e in map(json.loads, audit)
    )


def test_a_handoff_to_an_engine_that_is_not_a_live_standby_is_refused_and_trading_goes_on(
    make_cluster: MakeCluster,
) -> None:
    """Issue 14, item 2: `engines handoff --to` a mistyped name made the holder resign for an
    engine that does not exist; nobody traded until the command was killed (10 min 42 s)."""
    cluster = make_cluster().start()
    a = EngineSession(CoordinatorClient(cluster.addresses()), "eng-a", ttl_ms=3000).start()
    # eng-b starts once eng-a holds the role: started together, either could win epoch 1
    b = EngineSession(CoordinatorClient(cluster.addresses()), "eng-b", ttl_ms=3000)
    try:
        assert a.wait_active(10) and a.epoch == 1
        b.start()
        wait_until(lambda: campaigned(cluster, "eng-b"), 20, "eng-b to campaign as a standby")
        result = cli(cluster, "engines", "handoff", "--to", "eng-typo", "--timeout", "30")
        assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr}"
        assert "'eng-typo' is not a live standby" in result.stderr, result.stderr
        assert "live standbys: eng-b" in result.stderr, result.stderr
        a.submit_order("after", "A1", "BTC-USD", Side.BUY, "1", "100")  # still trading
        engines = json.loads(ok(cli(cluster, "engines", "--json")))
        assert (engines["holder"], engines["epoch"], engines["handoff_to"]) == ("eng-a", 1, None)
    finally:
        for session in (a, b):
            session.close()


def test_a_handoff_to_a_standby_that_stops_campaigning_ends_at_its_timeout(
    make_cluster: MakeCluster,
) -> None:
    """Issue 14, item 2 (its wait): the successor campaigned once, so the hand-off is accepted,
    then it never campaigns again and no grant follows the release. The command ignored
    --timeout; it now ends at its timeout with exit 3 and says why."""
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    with EngineSession(client, "eng-a", ttl_ms=3000) as a:
        assert a.wait_active(10)
        ghost = client.call("Engine", "Campaign", campaign_request("eng-ghost", 3000, "once"))
        assert not ghost.granted and ghost.holder_id == "eng-a"
        started = time.monotonic()
        result = cli(
            cluster, "engines", "handoff", "--to", "eng-ghost", "--timeout", "3", timeout_s=60
        )
        took = time.monotonic() - started
    assert result.returncode == 3, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert "eng-ghost was not granted within 3s" in result.stderr, result.stderr
    print(f"engines handoff --timeout 3 returned after {took:.1f} s")


def test_json_output_parses_for_every_read_command(make_cluster: MakeCluster) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    with EngineSession(client, "eng-a", ttl_ms=5000) as session:
        assert session.wait_active(10)
        session.submit_order("o1", "A1", "BTC-USD", Side.SELL, "2", "100")
        session.report_fill("f1", "o1", "2", "101")
        ok(cli(cluster, "risk", "set", "--account", "A1", "--position-max", "50"))
        read: dict[str, Any] = {
            " ".join(args): json.loads(ok(cli(cluster, *args, "--json")))
            for args in (
                ["status"],
                ["members", "list"],
                ["engines"],
                ["orders", "list", "--all"],
                ["orders", "get", "o1"],
                ["risk", "show"],
            )
        }
        order_text = ok(cli(cluster, "orders", "get", "o1"))
        audit_lines = ok(cli(cluster, "audit", "export", "--json")).splitlines()
        audit_table = ok(cli(cluster, "audit", "export"))
    assert read["status"]["active_engine"] == "eng-a" and read["status"]["raft_leader"] in {
        "dc1",
        "dc2",
        "dc3",
    }
    assert {m["node_id"] for m in read["members list"]} == {"dc1", "dc2", "dc3"}
    assert read["engines"]["holder"] == "eng-a"
    assert [(o["client_order_id"], o["status"]) for o in read["orders list --all"]] == [
        ("o1", "FILLED")
    ]
    # issue 14, item 8: `orders get` shows the order's fills, as words and times, not Python
    fills = read["orders get o1"].pop("fills")
    assert read["orders get o1"] == read["orders list --all"][0]
    assert [(f["fill_id"], f["quantity"], f["price"]) for f in fills] == [("f1", "2", "101")]
    assert "status              FILLED" in order_text and "None" not in order_text, order_text
    assert "False" not in order_text and "\nf1 " in order_text, order_text
    # --json means JSON everywhere: the audit export too; without it, a table for a person
    assert all(isinstance(json.loads(line), dict) for line in audit_lines) and audit_lines
    assert audit_table.split()[:3] == ["INDEX", "TERM", "ISSUED_AT"], audit_table
    assert "SubmitOrder" in audit_table, audit_table
    assert not any(line.startswith("{") for line in audit_table.splitlines()), audit_table
    assert read["risk show"] == [
        {
            "account": "A1",
            "instrument": "*",
            "order_quantity_max": None,
            "position_max": "50",
            "open_orders_max": None,
        }
    ]
    positions = json.loads(ok(cli(cluster, "positions", "--json")))
    assert positions == [
        {
            "account": "A1",
            "instrument": "BTC-USD",
            "quantity": "-2",
            "average_price": "101",
            "realized_pnl": "0",
        }
    ]


def test_status_watch_json_prints_one_json_object_per_refresh(make_cluster: MakeCluster) -> None:
    """Issue 14, item 8: `status --watch --json` printed indented JSON documents back to back,
    which no line-based reader (jq -c, a log shipper) can split."""
    cluster = make_cluster().start()
    env = {**os.environ, "COORDINATOR_CLUSTER": ",".join(cluster.addresses())}
    watch = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "status", "--watch", "--json", "--interval", "0.2"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        refreshes = [json.loads(watch.stdout.readline()) for _ in range(3)]
    finally:
        watch.terminate()
        watch.wait(10)
    assert all(r["raft_leader"] in cluster.nodes for r in refreshes), refreshes
    assert all(len(r["nodes"]) == 3 for r in refreshes), refreshes


def test_audit_export_lists_every_state_change_with_its_outcome(
    make_cluster: MakeCluster, tmp_path: Path
) -> None:
    cluster = make_cluster().start()
    client = CoordinatorClient(cluster.addresses())
    with EngineSession(client, "eng-a", ttl_ms=5000) as session:
        assert session.wait_active(10)
        epoch = session.epoch
        assert epoch is not None
        session.submit_order("o1", "A1", "BTC-USD", Side.BUY, "1", "100")
    with pytest.raises(StaleEpoch):  # eng-a resigned when its session closed
        submit(client, epoch, "late", engine_id="eng-a")
    out = tmp_path / "audit.jsonl"
    ok(cli(cluster, "audit", "export", "--json", "--output", str(out)))
    entries = [json.loads(line) for line in out.read_text().splitlines()]
    submits = [
        (e["fields"]["client_order_id"], e["outcome"], e["epoch"], e["engine_id"])
        for e in entries
        if e["command"] == "SubmitOrder"
    ]
    assert ("o1", "ACCEPTED", epoch, "eng-a") in submits
    assert ("late", "STALE_EPOCH", epoch, "eng-a") in submits
    assert any(e["command"] == "Campaign" and e["outcome"] == "GRANTED" for e in entries)
    assert all(
        e["issued_at_ns"] > 0 for e in entries if e["command"] not in ("raft_noop", "membership")
    )
    # issue 14, item 3: an incremental export knows every outcome too (the help's own example)
    since = next(e["index"] for e in entries if e["command"] == "SubmitOrder")
    tail = [
        json.loads(line)
        for line in ok(cli(cluster, "audit", "export", "--json", "--from", str(since))).splitlines()
    ]
    assert tail[0]["index"] == since and all(
        e["outcome"]
        for e in tail
        if e["command"] in ("SubmitOrder", "Campaign", "KeepAlive", "Resign")
    ), tail
    stale = [e["fields"]["client_order_id"] for e in tail if e["outcome"] == "STALE_EPOCH"]
    assert stale == ["late"]


def test_a_node_started_on_a_grpc_port_already_in_use_exits_2_naming_it(
    make_cluster: MakeCluster, tmp_path: Path
) -> None:
    """Issue 14, item 1: grpcio sets SO_REUSEPORT by default, so a second node started on a live
    node's gRPC port shared it, and `status` against that address alternated between the cluster
    and the lone node. The port is bound exclusively: the second node fails to start."""
    cluster = make_cluster().start()
    taken = cluster.nodes["dc1"].grpc_address
    stray = tmp_path / "stray.toml"
    stray.write_text(
        f'[node]\nid = "stray"\ngrpc_address = "{taken}"\n'
        f'raft_address = "127.0.0.1:{free_ports(1)[0]}"\ndata_dir = "{tmp_path / "data"}"\n'
        'cluster_secret = "0123456789abcdef0123456789abcdef"\n'
    )
    result = cli(None, "serve", "--config", str(stray), "--bootstrap", timeout_s=60)
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr[-2000:]}"
    assert taken in result.stderr and "Traceback" not in result.stderr, result.stderr
    for _ in range(10):  # every new connection to that port still reaches dc1
        with CoordinatorClient([taken]) as client:
            assert client.status(taken).node_id == "dc1"


def test_a_data_dir_that_cannot_be_created_exits_2_with_one_line(tmp_path: Path) -> None:
    """Issue 14, item 5: `serve` printed a NotADirectoryError traceback and exited 1, and
    `config check` passed the same file."""
    (tmp_path / "a-file").write_text("x")
    config = tmp_path / "node.toml"
    config.write_text(
        f'[node]\nid = "dc1"\ngrpc_address = "127.0.0.1:{free_ports(1)[0]}"\n'
        f'raft_address = "127.0.0.1:{free_ports(1)[0]}"\n'
        f'data_dir = "{tmp_path / "a-file" / "data"}"\n'
        'cluster_secret = "0123456789abcdef0123456789abcdef"\n'
    )
    for args in (
        ["config", "check", str(config)],
        ["serve", "--config", str(config), "--bootstrap"],
    ):
        result = cli(None, *args, timeout_s=60)
        assert result.returncode == 2, f"{args}: exit {result.returncode}\n{result.stderr}"
        assert "Traceback" not in result.stderr and "a-file" in result.stderr, result.stderr


def test_config_check_warns_of_a_secret_file_others_can_read(tmp_path: Path) -> None:
    """Issue 14, item 7: a secret file readable by group or others was accepted silently."""
    secret = tmp_path / "cluster.secret"
    secret.write_text("0123456789abcdef0123456789abcdef\n")
    secret.chmod(0o644)
    config = tmp_path / "node.toml"
    config.write_text(
        f'[node]\nid = "dc1"\ngrpc_address = "127.0.0.1:7001"\nraft_address = "127.0.0.1:7101"\n'
        f'data_dir = "{tmp_path / "data"}"\ncluster_secret_file = "{secret}"\n'
    )
    result = cli(None, "config", "check", str(config), timeout_s=60)
    assert result.returncode == 0, result.stderr
    assert f"warning: node.cluster_secret_file {secret} is readable by group or others" in (
        result.stderr
    )
    assert f"chmod 600 {secret}" in result.stderr
    checked = json.loads(ok(cli(None, "config", "check", "--json", str(config), timeout_s=60)))
    assert (checked["ok"], checked["node_id"], checked["problems"]) == (True, "dc1", [])
    assert [f"chmod 600 {secret}" in w for w in checked["warnings"]] == [True]


@pytest.mark.parametrize("cluster_arg", ["foo", "127.0.0.1:99999", "127.0.0.1:", ":7001"])
def test_a_malformed_cluster_address_is_bad_input_not_an_unavailable_cluster(
    cluster_arg: str,
) -> None:
    """Issue 14, item 7: `--cluster foo` or a port of 99999 exited 3 ("unavailable")."""
    result = cli(None, "status", "--cluster", cluster_arg, timeout_s=60)
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr}"
    assert repr(cluster_arg.split(",")[0]) in result.stderr and "Traceback" not in result.stderr


def test_malformed_limits_are_bad_input_not_a_refusal(make_cluster: MakeCluster) -> None:
    """Issue 14, item 7: `risk set` with -5, 1e400 or NaN exited 1 ("refused by the cluster")."""
    cluster = make_cluster().start()
    for value in ("-5", "1e400", "NaN"):
        result = cli(cluster, "risk", "set", "--account", "A1", "--position-max", value)
        assert result.returncode == 2, f"{value}: exit {result.returncode}\n{result.stderr}"
        assert "position_max" in result.stderr, result.stderr
    assert json.loads(ok(cli(cluster, "risk", "show", "--json"))) == []


def test_a_broken_config_exits_2_and_names_the_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "node.toml"
    bad.write_text(
        '[node]\nid = "dc1"\ngrpc_adress = "127.0.0.1:7001"\nraft_address = "127.0.0.1:7101"\n'
        'data_dir = "/tmp/x"\ncluster_secret = "0123456789abcdef"\n'
    )
    for args in (["config", "check", str(bad)], ["serve", "--config", str(bad)]):
        result = cli(None, *args)
        assert result.returncode == 2, result
        assert "node.grpc_adress" in result.stderr and "node.grpc_address" in result.stderr
    result = cli(None, "config", "check", "--json", str(bad))
    assert result.returncode == 2, result
    checked = json.loads(result.stdout)
    assert checked["ok"] is False and any("node.grpc_adress" in p for p in checked["problems"])


def test_an_unreachable_cluster_exits_3(tmp_path: Path) -> None:
    port = free_ports(1)[0]
    result = cli(None, "status", "--cluster", f"127.0.0.1:{port}")
    assert result.returncode == 3 and "unavailable" in result.stderr


@pytest.mark.parametrize(
    "command",
    [("status",), ("orders", "list"), ("members", "list"), ("engines",), ("risk", "show")],
)
def test_an_unreachable_cluster_names_every_address_tried_and_why(command: tuple[str, ...]) -> None:
    addresses = [f"127.0.0.1:{port}" for port in free_ports(2)]
    result = cli(None, *command, "--cluster", ",".join(addresses), timeout_s=60)
    assert result.returncode == 3, result.stderr
    (line,) = result.stderr.strip().splitlines()
    for address in addresses:
        assert f"{address}: connection refused" in line, line


def test_every_command_has_help_with_an_example() -> None:
    commands = [
        ["status"],
        ["members", "list"],
        ["members", "add"],
        ["members", "remove"],
        ["engines"],
        ["engines", "handoff"],
        ["orders", "list"],
        ["orders", "get"],
        ["positions"],
        ["halt"],
        ["resume"],
        ["risk", "set"],
        ["risk", "show"],
        ["config", "check"],
        ["audit", "export"],
        ["serve"],
        ["demo"],
        ["bench"],
        ["bench-takeover"],
        ["health"],
    ]
    for command in commands:
        help_text = ok(cli(None, *command, "--help"))
        assert "Example:" in help_text, command


def test_metrics_are_served_with_the_documented_names(make_cluster: MakeCluster) -> None:
    cluster = make_cluster()
    ports = free_ports(len(cluster.nodes))
    for node, port in zip(cluster.nodes.values(), ports, strict=True):
        node.extra_config = f'metrics_address = "127.0.0.1:{port}"'
        cluster.write_config(node)
    cluster.start()
    with EngineSession(CoordinatorClient(cluster.addresses()), "eng-a", ttl_ms=5000) as session:
        assert session.wait_active(10)
        session.submit_order("o1", "A1", "BTC-USD", Side.BUY, "1", "100")
        leader = cluster.wait_for_leader()
        port = ports[list(cluster.nodes).index(leader)]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for name in (
        "coordinator_raft_term",
        'coordinator_raft_role{role="leader"} 1.0',
        "coordinator_raft_commit_index",
        "coordinator_raft_applied_index",
        "coordinator_raft_follower_lag_entries",
        "coordinator_raft_elections_total",
        "coordinator_raft_leader_changes_total",
        "coordinator_raft_fsync_seconds_bucket",
        "coordinator_apply_seconds_bucket",
        'coordinator_commands_total{outcome="accepted",type="SubmitOrder"}',
        "coordinator_epoch 1.0",
        "coordinator_lease_remaining_seconds",
        "coordinator_open_orders 1.0",
        "coordinator_halted 0.0",
    ):
        assert name in text, name


def test_a_voter_that_lost_its_data_is_not_promoted_from_its_old_membership(
    make_cluster: MakeCluster,
) -> None:
    """A node id that is already a voter, rejoining with an empty data directory, would vote with
    amnesia. It stays a learner until it is removed and added again."""
    import shutil

    cluster = make_cluster().start()
    learner = start_learner(cluster)
    ok(add_member(cluster, learner))
    cluster.kill(learner.node_id)
    shutil.rmtree(learner.data_dir)
    cluster.start_node(learner.node_id)
    wait_until(
        lambda: "refusing to promote" in cluster.log_tail(learner.node_id, 50),
        20,
        "the amnesia warning",
    )
    assert cluster.status(learner.node_id).role == admin_pb2.LEARNER
    ok(cli(cluster, "members", "remove", learner.node_id))
    out = ok(add_member(cluster, learner))
    assert f"{learner.node_id} is a voter" in out

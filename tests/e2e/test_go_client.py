"""An engine written in Go generates its client from proto/ and talks to a real node.

The Go code is generated from proto/ for every run, with buf and the protoc plugins that
scripts/setup installs, into a scratch copy of clients/go (so a stale generated package can
never hide a .proto that no longer generates, and the repository stays clean). The build uses
the module cache that scripts/setup filled: GOPROXY=off, nothing is downloaded at test time."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from coordinator.localcluster import LocalCluster
from coordinator.v1 import admin_pb2
from tests.cluster_calls import MakeCluster
from tests.proto_tools import ROOT, ok, run, tool

pytestmark = pytest.mark.cluster

CLIENT = ROOT / "clients" / "go"


@pytest.fixture(scope="module")
def go_status() -> Iterator[Path]:
    """The coordinator-status binary, generated and built from proto/ and clients/go."""
    with tempfile.TemporaryDirectory(prefix="go-client-") as tmp:
        module = Path(tmp) / "client"
        module.mkdir()
        for name in ("go.mod", "go.sum", "main.go"):
            shutil.copyfile(CLIENT / name, module / name)
        ok(
            run(
                [
                    tool("buf"),
                    "generate",
                    "proto",
                    "--exclude-path",
                    "proto/google",
                    "--template",
                    str(CLIENT / "buf.gen.yaml"),
                    "--output",
                    str(module),
                ]
            )
        )
        assert (module / "coordinator" / "v1" / "admin_grpc.pb.go").is_file()
        binary = Path(tmp) / "coordinator-status"
        ok(run([tool("go"), "build", "-o", str(binary), "."], cwd=module, timeout_s=600))
        yield binary


def test_a_go_client_generated_from_proto_reads_each_nodes_status(
    go_status: Path, make_cluster: MakeCluster
) -> None:
    cluster = make_cluster().start()
    cluster.wait_for_leader()
    cluster.wait_converged()

    for node in cluster.nodes.values():
        assert go_agrees_with_python(go_status, cluster, node.node_id, node.grpc_address)
    roles = sorted(admin_pb2.Role.Name(s.role) for s in cluster.statuses().values())
    assert roles == ["FOLLOWER", "FOLLOWER", "LEADER"]


def go_agrees_with_python(
    go_status: Path, cluster: LocalCluster, node_id: str, address: str
) -> bool:
    """The Go client's view of one node equals the Python client's, read just before and just
    after it; an election in between changes the term, so that round is tried again (3 at most)."""
    for _ in range(3):
        before = view(cluster.status(node_id))
        printed = json.loads(ok(run([str(go_status), address], timeout_s=30)))
        after = view(cluster.status(node_id))
        if before == after:
            go = (printed["node_id"], printed["role"], printed["term"], printed["leader_id"])
            assert go == before, (go, before)
            return True
    return False


def view(status: admin_pb2.StatusResponse) -> tuple[str, str, int, str]:
    return (status.node_id, admin_pb2.Role.Name(status.role), status.term, status.leader_id)


def test_the_go_client_reports_an_unreachable_node_and_exits_1(go_status: Path) -> None:
    result = run([str(go_status), "-timeout", "1s", "127.0.0.1:1"], timeout_s=30)
    assert result.returncode == 1 and result.stdout == ""
    assert "coordinator-status: Admin.Status on 127.0.0.1:1:" in result.stderr

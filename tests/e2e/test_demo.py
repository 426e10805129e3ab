"""The demo as a newcomer runs it: `coordinator demo --keep-running` stops, nodes included, on
SIGTERM or Ctrl-C (issue 14, item 4: its loop was `while True: sleep(1)`; SIGTERM was ignored,
it needed SIGKILL and left its three nodes running)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import grpc
import pytest

from coordinator.v1 import admin_pb2, admin_pb2_grpc

pytestmark = pytest.mark.cluster


def answers(address: str) -> bool:
    with grpc.insecure_channel(address) as channel:
        try:
            admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(), timeout=1)  # type: ignore[no-untyped-call]
        except grpc.RpcError:
            return False
    return True


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_the_kept_cluster_stops_cleanly_on_sigterm_and_sigint(stop_with: signal.Signals) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "coordinator", "demo", "--orders", "20", "--keep-running"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    addresses: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 240
        for line in demo.stdout:  # bounded by the demo's own end and the deadline
            found = re.search(r"COORDINATOR_CLUSTER=(\S+)", line)
            if found:
                addresses = found.group(1).split(",")
                break
            assert time.monotonic() < deadline, "the demo did not reach --keep-running"
        assert addresses and all(answers(a) for a in addresses)
        demo.send_signal(stop_with)
        assert demo.wait(60) == 0, f"the demo ignored {stop_with.name}"
        assert not any(answers(a) for a in addresses), "the demo left nodes running"
    finally:
        if demo.poll() is None:  # the old code: Ctrl-C still stops it, nodes included
            demo.send_signal(signal.SIGINT)
            try:
                demo.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(demo.pid, signal.SIGKILL)
                demo.wait(10)

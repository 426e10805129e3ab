"""The sealed connection (coordinator/replication/peer_wire.py) over a real socket pair."""

from __future__ import annotations

import socket
import struct

from pysyncobj.poller import createPoller
from pysyncobj.tcp_connection import TcpConnection

from coordinator.replication.peer_wire import SealedConnection

SECRET = b"0123456789abcdef0123456789abcdef"


def test_a_message_sent_before_the_peers_hello_is_dropped_not_raised() -> None:
    """pysyncobj (and the pre-vote) send to a connection as soon as TCP connects, before the
    peer's hello has arrived; the chaos pass's reset-peer saw the seal raise in the tick thread
    on every tick, and the node stopped applying. Such a message is dropped, like a lost packet:
    Raft sends it again."""
    ours, theirs = socket.socketpair()
    poller = createPoller("auto")
    try:
        connection = SealedConnection.seal(TcpConnection(poller, socket=ours), SECRET)
        connection.send(b"pysyncobj's random key")  # the hello
        connection.send({"type": "pre_vote", "term": 3})  # before the peer's hello
        theirs.settimeout(1)
        written = theirs.recv(65536)
        (length,) = struct.unpack("<I", written[:4])
        assert len(written) == 4 + length, "only the hello went out"
    finally:
        ours.close()
        theirs.close()


def test_a_reconnection_starts_a_new_session_with_a_new_hello() -> None:
    ours, theirs = socket.socketpair()
    poller = createPoller("auto")
    try:
        connection = SealedConnection.seal(TcpConnection(poller, socket=ours), SECRET)
        first = connection.cipher
        connection.send(b"pysyncobj's random key")
        connection.disconnect()
        assert connection.cipher is not first and connection.cipher.can_seal
        assert connection.cipher.awaiting_hello
    finally:
        ours.close()
        theirs.close()

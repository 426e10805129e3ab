"""The gRPC channel options the server, its forwarding and the engine library all use, and the
one check of a host:port address (the client's --cluster and a node's configured addresses)."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a warm book (every open order, every position) fits
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


def is_host_port(address: str) -> bool:
    """host:port with a host and a port in 1-65535."""
    host, _, port = address.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536

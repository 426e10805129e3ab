"""The gRPC channel options the server, its forwarding and the engine library all use."""

from __future__ import annotations

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a warm book (every open order, every position) fits
CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]

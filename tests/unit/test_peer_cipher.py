"""The Raft peer wire's cipher (coordinator/replication/peer_cipher.py): both sides agree on
per-direction keys from the secret and fresh salts; anything else ends the connection."""

from __future__ import annotations

import pytest

from coordinator.replication.peer_cipher import PeerAuthError, PeerCipher

SECRET = b"0123456789abcdef0123456789abcdef"


def connected() -> tuple[PeerCipher, PeerCipher]:
    """A dialer and a listener after the two hellos."""
    dialer, listener = PeerCipher(SECRET), PeerCipher(SECRET)
    assert listener.open(dialer.seal(b"dialer-hello")) == b"dialer-hello"
    assert dialer.open(listener.seal(b"listener-hello")) == b"listener-hello"
    return dialer, listener


def test_frames_flow_both_ways_after_the_hellos() -> None:
    dialer, listener = connected()
    for i in range(3):
        assert listener.open(dialer.seal(b"append %d" % i)) == b"append %d" % i
        assert dialer.open(listener.seal(b"ack %d" % i)) == b"ack %d" % i


def test_a_hello_under_another_secret_is_refused_before_anything_is_decoded() -> None:
    stranger = PeerCipher(b"another secret, 32 bytes long....")
    with pytest.raises(PeerAuthError, match="another secret"):
        PeerCipher(SECRET).open(stranger.seal(b"cos\nsystem\n(S'touch /tmp/x'\ntR."))


def test_a_replayed_frame_is_refused() -> None:
    dialer, listener = connected()
    frame = dialer.seal(b"append 0")
    listener.open(frame)
    with pytest.raises(PeerAuthError):
        listener.open(frame)


def test_frames_out_of_order_are_refused() -> None:
    dialer, listener = connected()
    first, second = dialer.seal(b"a"), dialer.seal(b"b")
    with pytest.raises(PeerAuthError):
        listener.open(second)
    del first


def test_a_tampered_frame_is_refused() -> None:
    dialer, listener = connected()
    frame = bytearray(dialer.seal(b"append 0"))
    frame[-1] ^= 1
    with pytest.raises(PeerAuthError):
        listener.open(bytes(frame))


def test_a_reflected_hello_is_refused() -> None:
    dialer = PeerCipher(SECRET)
    hello = dialer.seal(b"hello")
    with pytest.raises(PeerAuthError, match="reflection"):
        dialer.open(hello)


def test_a_frame_recorded_on_one_connection_is_refused_on_the_next() -> None:
    dialer, _ = connected()
    recorded = dialer.seal(b"append 0")
    _, listener2 = connected()
    with pytest.raises(PeerAuthError):
        listener2.open(recorded)


def test_each_direction_has_its_own_key() -> None:
    dialer, _ = connected()
    with pytest.raises(PeerAuthError):  # a frame sent back to its sender does not open
        dialer.open(dialer.seal(b"append 0"))

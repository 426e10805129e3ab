"""pysyncobj's TCP connection with the coordinator's peer cipher (peer_cipher.py) in place of
its Fernet and zlib: each frame is a 4-byte length and one sealed message.

The transport turns every connection it makes or accepts into a `SealedConnection`
(transport.py, `seal`), before any byte is read. pysyncobj's handshake runs unchanged on top:
its random keys travel as the first messages, which are now the cipher's hellos.

Messages are still pickled, as pysyncobj's algorithm expects them; but only after they
authenticated under the cluster secret, so an unauthenticated peer never reaches pickle.
"""

from __future__ import annotations

import logging
import struct
import zlib
from typing import Any

import pysyncobj.pickle as pickle
from pysyncobj.tcp_connection import TcpConnection

from coordinator.replication.peer_cipher import PeerAuthError, PeerCipher

log = logging.getLogger(__name__)
LENGTH = struct.Struct("<I")
FRAME_MAX = 1 << 28  # 256 MiB: far above pysyncobj's largest message (a snapshot chunk, a batch)


class SealedConnection(TcpConnection):  # type: ignore[misc]
    secret: bytes
    cipher: PeerCipher
    accept_fernet: bool

    @classmethod
    def seal(
        cls, conn: TcpConnection, secret: bytes, *, accept_fernet: bool = False
    ) -> SealedConnection:
        """Makes `conn` (created by pysyncobj) a sealed one; nothing has been read on it yet.
        With `accept_fernet` (an accepted connection), a peer whose first frame is pysyncobj's
        Fernet under the secret is served on that wire instead: a node of the previous release
        during a rolling upgrade."""
        conn.__class__ = cls
        sealed: SealedConnection = conn
        sealed.secret = secret
        sealed.cipher = PeerCipher(secret)
        sealed.accept_fernet = accept_fernet
        return sealed

    def send(self, message: Any) -> None:
        if not self.cipher.can_seal:
            # TCP is up but the peer's hello has not come: pysyncobj already sends (votes,
            # pre-votes). Dropped like a lost packet; Raft sends it again.
            log.debug("dropped a %s sent before the peer's hello", type(message).__name__)
            return
        frame = self.cipher.seal(pickle.dumps(message))
        self._TcpConnection__writeBuffer += LENGTH.pack(len(frame)) + frame
        self._TcpConnection__trySendBuffer()

    def disconnect(self) -> None:
        # first: a reconnection starts with new salts, even one made from the callback below
        self.cipher = PeerCipher(self.secret)
        super().disconnect()

    def _TcpConnection__processParseMessage(self) -> Any:
        buffer: bytes = self._TcpConnection__readBuffer  # type: ignore[has-type]
        if len(buffer) < LENGTH.size:
            return None
        (length,) = LENGTH.unpack_from(buffer)
        if length > FRAME_MAX:
            log.warning("dropped a Raft connection: a frame of %d bytes", length)
            self.disconnect()
            return None
        if len(buffer) - LENGTH.size < length:
            return None
        frame = buffer[LENGTH.size : LENGTH.size + length]
        self._TcpConnection__readBuffer = buffer[LENGTH.size + length :]
        try:
            payload = self.cipher.open(frame)
        except PeerAuthError as exc:
            if self.accept_fernet and self.cipher.awaiting_hello:
                return self._serve_fernet(frame, exc)
            log.warning("dropped a Raft connection: %s", exc)
            self.disconnect()
            return None
        return pickle.loads(payload)

    def _serve_fernet(self, frame: bytes, refusal: PeerAuthError) -> Any:
        """The first frame was no sealed hello: if it is a Fernet token under the secret (the
        previous release dialling), this connection goes on in pysyncobj's own way."""
        try:
            data = self.encryptor.decrypt(frame)
        except Exception:  # cryptography's InvalidToken, or no encryptor: not ours either
            log.warning("dropped a Raft connection: %s", refusal)
            self.disconnect()
            return None
        log.warning("a peer speaks the previous release's Fernet wire: upgrade it")
        self.__class__ = TcpConnection
        return pickle.loads(zlib.decompress(data))

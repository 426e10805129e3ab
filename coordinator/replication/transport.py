"""pysyncobj's TCP transport with what the coordinator needs around it.

- Durability before acknowledgement, in groups: a follower's `next_node_idx` (its append
  acknowledgement) and `response_vote` are held while the tick processes the messages that
  arrived together, then the journal is synced once and they all go out
  (syncobj_patch.CoordinatorSyncObj.flush_acks). One fsync per burst of AppendEntries, not one per
  message.
- A dial table: each peer is dialled at an address of this process's choosing (by default
  its advertised Raft address), so a proxy can sit on each (node, peer) link. pysyncobj opens
  one TCP connection per pair, from the node whose address sorts higher; identities stay the
  advertised addresses, only the dialled socket address changes.
- Pings: followers never talk to each other in steady state, and pysyncobj declares a link
  dead on its first send after `connectionTimeout` without reads, which wastes an election
  round after every quiet spell (../shared/research/performance.md, finding 5). A small ping
  on every link keeps reads flowing, so the timeout only fires on links that are really dead.
- Membership only through the coordinator's Admin API: pysyncobj's `syncobj_admin` utility
  commands (add, remove, set_version, transfer) are not registered on the Raft port.
- The peer wire: every connection, dialled or accepted, is a SealedConnection (peer_wire.py):
  AES-GCM per connection and direction instead of pysyncobj's Fernet and zlib.
- Cluster identity: the handshake names the cluster as well as the node. A peer of another
  cluster (or one that names none) is refused and logged even if it holds the secret, so two
  clusters that share a secret never exchange a log entry (issue 8, defect 7).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pysyncobj.dns_resolver import globalDnsResolver
from pysyncobj.monotonic import monotonic
from pysyncobj.tcp_connection import CONNECTION_STATE
from pysyncobj.transport import TCPTransport

from coordinator.replication.peer_wire import SealedConnection

if TYPE_CHECKING:
    from coordinator.replication.syncobj_patch import CoordinatorSyncObj

log = logging.getLogger(__name__)
ACK_TYPES = frozenset({"next_node_idx", "response_vote"})
PING: dict[str, str] = {"type": "ping"}
UTILITY_COMMANDS_ALLOWED = frozenset({"status"})


class CoordinatorTransport(TCPTransport):  # type: ignore[misc]
    _syncObj: CoordinatorSyncObj

    def __init__(self, syncObj: Any, selfNode: Any, otherNodes: Any) -> None:
        self._last_ping = 0.0
        self.pending_acks: list[tuple[Any, dict[str, Any]]] = []
        self.foreign_peers_refused = 0
        self._refusals_logged: set[str] = set()
        super().__init__(syncObj, selfNode, otherNodes)

    def addNode(self, node: Any) -> None:
        super().addNode(node)
        connection = self._connections.get(node)
        if connection is not None and self._syncObj.dials_sealed:  # a connection this node dials
            SealedConnection.seal(connection, self._syncObj.peer_secret)

    def _onNewIncomingConnection(self, conn: Any) -> None:
        # accepted: sealed, or the previous release's Fernet wire while a cluster upgrades
        sealed = SealedConnection.seal(conn, self._syncObj.peer_secret, accept_fernet=True)
        super()._onNewIncomingConnection(sealed)

    def setOnUtilityMessageCallback(self, message: str, callback: Any) -> None:
        if message in UTILITY_COMMANDS_ALLOWED:
            super().setOnUtilityMessageCallback(message, callback)

    def send(self, node: Any, message: Any) -> bool:
        if isinstance(message, dict) and message.get("type") in ACK_TYPES:
            self.pending_acks.append((node, message))  # sent by send_pending_acks, after a sync
            return True
        return bool(super().send(node, message))

    def send_pending_acks(self) -> None:
        """Sends the held acknowledgements; the caller has synced the journal."""
        acks, self.pending_acks = self.pending_acks, []
        for node, message in acks:
            super().send(node, message)

    def _onTick(self) -> None:
        super()._onTick()
        now = monotonic()
        if now - self._last_ping >= self._syncObj.settings.ping_interval_s:
            self._last_ping = now
            for node in list(self._nodes):
                # Only links past pysyncobj's handshake (key exchange, identity): a ping sent
                # earlier would be taken for the handshake message and break the link.
                if self._syncObj.isNodeConnected(node):
                    super().send(node, PING)

    def _sendSelfAddress(self, conn: Any) -> None:
        """The handshake: who this node is (or "readonly" for a learner) and which cluster."""
        node = "readonly" if self._selfIsReadonlyNode else self._selfNode.address
        conn.send({"node": node, "cluster_id": self._syncObj.cluster_id})

    def _onIncomingMessageReceived(self, conn: Any, message: Any) -> None:
        if (self._syncObj.encryptor and not conn.sendRandKey) or isinstance(message, list):
            super()._onIncomingMessageReceived(conn, message)  # key exchange, or a utility command
            return
        claimed = message.get("node") if isinstance(message, dict) else None
        theirs = message.get("cluster_id", "") if isinstance(message, dict) else ""
        ours = self._syncObj.cluster_id
        if not isinstance(claimed, str) or (ours and theirs != ours):
            self._refuse(conn, f"{claimed!r} of cluster {theirs or '(none named)'}", ours)
            return
        super()._onIncomingMessageReceived(conn, claimed)

    def _refuse(self, conn: Any, peer: str, ours: str) -> None:
        self.foreign_peers_refused += 1
        if peer not in self._refusals_logged:
            self._refusals_logged.add(peer)
            log.error(
                "refused a Raft connection from %s: this node belongs to cluster %s (it holds the "
                "secret but is not one of ours; check its data directory and config)",
                peer,
                ours,
            )
        conn.disconnect()
        self._unknownConnections.discard(conn)

    def _connectIfNecessarySingle(self, node: Any) -> bool:
        """pysyncobj's reconnect logic, dialling the address from the dial table."""
        connection = self._connections.get(node)
        if connection is not None and connection.state != CONNECTION_STATE.DISCONNECTED:
            return True
        if not self._shouldConnect(node):
            return False
        assert connection is not None, (
            "pysyncobj creates a connection object for every node it dials"
        )
        last = self._lastConnectAttempt.get(node)
        if last is not None and monotonic() - last < self._syncObj.conf.connectionRetryTime:
            return False
        self._lastConnectAttempt[node] = monotonic()
        host, port = self._syncObj.dial_target(node.address)
        return bool(connection.connect(globalDnsResolver().resolve(host), port))

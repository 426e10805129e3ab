"""Conversions at the edges, one home for each: public protobuf messages <-> core values.

- `commands`: requests and log entries <-> core commands (used by the log envelope and the server).
- `records`: orders, positions, limits -> messages and back (used by the server and the client).
- `rows`: the plain dicts the CLI, the audit export and the chaos runner print.
- `status`: reasons <-> gRPC statuses (rich ErrorInfo details).
- `channel`: the channel options both sides use, and the host:port check.

Nothing here decides anything, and nothing here imports the server or replication, so the
engine library can use it alone.
"""

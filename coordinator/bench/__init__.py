"""`coordinator bench`: committed orders per second, latency and CPU per order of the unary and
the stream order paths on a real local 3-node cluster, optionally side by side with a local
3-member etcd cluster driven the same way.

One module per concern: `load` (the asyncio closed-loop driver and its percentiles), `orders`
(the coordinator's two order paths as load sessions), `etcd` (the etcd cluster and its put
session), `cpu` (per-process CPU from /proc), `report` (table, ratios, JSON, progress),
`truncation` (pysyncobj's truncation defect with and without the guards), `run` (the rounds,
interleaved). The CLI command (coordinator/cli/bench.py) only parses options and calls `run`.
"""

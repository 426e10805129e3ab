"""A Raft-backed failover coordinator for trading execution engines.

Exactly one execution engine holds the execution role at a time, under a lease, stamped with
a strictly increasing epoch; every engine write carries its epoch and a stale one is refused
inside the replicated state machine (fencing). See README.md and docs/.
"""

__version__ = "0.1.0"

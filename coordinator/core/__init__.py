"""The pure core: the replicated state machine and the lease bookkeeping.

Standard library only; no I/O, no clocks, no threads, no randomness. Time arrives inside
commands (`issued_at_ns`) or as a `now_ns` argument.
"""

from coordinator.core.lease import DueLease, LeaseTimer
from coordinator.core.refusals import Reason
from coordinator.core.snapshot_codec import SnapshotError
from coordinator.core.state import CoordinatorState

__all__ = ["CoordinatorState", "DueLease", "LeaseTimer", "Reason", "SnapshotError"]

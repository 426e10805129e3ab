"""The Python client library an execution engine uses.

    from coordinator.client import CoordinatorClient, EngineSession, Side

    client = CoordinatorClient("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003")
    session = EngineSession(client, "engine-a", ttl_ms=500,
                            on_elected=lambda grant: print("active at epoch", grant.epoch),
                            on_demoted=lambda reason: print("stop trading:", reason)).start()
    session.wait_active(timeout_s=5)
    result = session.submit_order("ord-1", "ACC1", "BTC-PERP", Side.BUY, "0.5", "64000")
    session.close()   # resigns: the standby is granted at once

An asyncio flavour with the same behaviour is in coordinator.client.aio.
"""

from coordinator.client import errors as _errors
from coordinator.client.errors import *  # noqa: F403 (every exception: errors.__all__)
from coordinator.client.policy import RetryPolicy
from coordinator.client.sync import CoordinatorClient, EngineSession
from coordinator.client.values import Grant, LeadershipEvent
from coordinator.core.model import Fill, Order, OrderStatus, Position, Side

__all__ = [
    *_errors.__all__,
    "CoordinatorClient",
    "EngineSession",
    "Fill",
    "Grant",
    "LeadershipEvent",
    "Order",
    "OrderStatus",
    "Position",
    "RetryPolicy",
    "Side",
]

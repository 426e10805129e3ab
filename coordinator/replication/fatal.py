"""Fail-stop: the one way a node stops itself when continuing could serve a diverged state.

Called on a broken invariant in the state machine, a failed fsync or log write, or a snapshot
that cannot be loaded. The node logs one clear CRITICAL line and exits at once with status 70
(EX_SOFTWARE); its peers carry on, and it restarts from what it made durable.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from typing import NoReturn

log = logging.getLogger("coordinator.fatal")
EXIT_STATUS = 70


def _exit_process(message: str) -> NoReturn:
    log.critical("stopping the node: %s", message)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # best effort while dying
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_STATUS)


_handler: Callable[[str], NoReturn] = _exit_process


def stop_node(message: str) -> NoReturn:
    """Stops the node with `message`. Never returns."""
    _handler(message)


def set_handler(handler: Callable[[str], NoReturn]) -> Callable[[str], NoReturn]:
    """Replaces the stop action (tests only: in-process clusters raise instead of exiting)."""
    global _handler
    previous, _handler = _handler, handler
    return previous

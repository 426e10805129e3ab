"""The exit codes of every `coordinator` command, defined once.

Scripts and health checks branch on these, so a code never changes meaning. USAGE is click's
own code for a usage error (click.UsageError, click.BadParameter), so a bad flag and a bad
config file exit alike.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    # the cluster said no: a refusal reason (STALE_EPOCH, MEMBERSHIP_REFUSED, ...)
    REFUSED = 1
    # a bad flag, argument, address or config file, or a field the cluster found malformed
    # (INVALID_COMMAND)
    USAGE = 2
    UNAVAILABLE = 3  # no node answered, no Raft leader (no quorum), or a wait timed out


MEANINGS = {
    ExitCode.OK: "ok",
    ExitCode.REFUSED: "refused by the cluster",
    ExitCode.USAGE: "usage or config error",
    ExitCode.UNAVAILABLE: "cluster unavailable",
}


def summary() -> str:
    """'0 ok, 1 refused by the cluster, ...': the line `coordinator --help` shows."""
    return ", ".join(f"{code.value} {MEANINGS[code]}" for code in ExitCode)

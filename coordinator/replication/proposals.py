"""What can go wrong with a proposal, and what it means for the caller: applied, not applied,
or maybe applied (retry with the same idempotency key). Part of the Raft facade's contract."""

from __future__ import annotations

from typing import Any

from pysyncobj.config import FAIL_REASON

from coordinator.core.refusals import Operating


class ProposalError(Exception):
    """A command could not be confirmed as applied. `applied` says what we know; `reason` is
    what the server answers (the mapping lives here, on each class, once)."""

    applied: bool | None = False
    reason: Operating = Operating.NO_QUORUM


class NoQuorum(ProposalError):
    """Not applied: no leader could take it (no quorum, leadership moved). Safe to retry."""


class OutcomeUnknown(ProposalError):
    """Maybe applied: the commit wait timed out or the leader changed mid-flight. Retry with
    the same idempotency key."""

    applied = None
    reason = Operating.OUTCOME_UNKNOWN


class Overloaded(ProposalError):
    """Not applied: the proposal queue is full."""

    reason = Operating.OVERLOADED


class MembershipRefused(ProposalError):
    """Not applied: the leader refused the membership change (another one is in flight, or
    this term's first entry is not yet committed)."""

    reason = Operating.MEMBERSHIP_REFUSED


def proposal_error(reason: int) -> ProposalError:
    if reason == FAIL_REASON.QUEUE_FULL:
        return Overloaded("the Raft proposal queue is full")
    if reason in (FAIL_REASON.LEADER_CHANGED, FAIL_REASON.UNKNOWN_OUTCOME):
        return OutcomeUnknown(
            "the Raft leader changed while the command was in flight; it may have been applied"
        )
    if reason == FAIL_REASON.REQUEST_DENIED:
        return MembershipRefused("the Raft leader refused the change")
    return NoQuorum("no Raft leader could commit the command (it was not applied)")


def outcome_of(result: Any, reason: int) -> Any:
    """A finished proposal as the facade reports it: the core's result when applied
    (pysyncobj's FAIL_REASON.SUCCESS), otherwise the ProposalError that says why not."""
    return result if reason == FAIL_REASON.SUCCESS else proposal_error(reason)

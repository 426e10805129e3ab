"""Pre-vote with leader stickiness (replication/prevote.py), with a fake clock."""

from __future__ import annotations

from coordinator.replication.prevote import Ask, PreVote, Stand

STICKY_S = 0.25


def test_a_deadline_starts_a_round_and_a_majority_of_grants_wins_it() -> None:
    prevote = PreVote(STICKY_S)
    assert prevote.on_deadline(term=4) == Ask(round=1, term=5)
    assert prevote.on_response(1, granted=True, term=4, voters=3) is True
    assert prevote.on_deadline(term=4) == Stand()


def test_a_refusal_or_an_answer_to_an_old_round_does_not_count() -> None:
    prevote = PreVote(STICKY_S)
    prevote.on_deadline(term=4)
    prevote.on_deadline(term=4)  # round 2
    assert prevote.on_response(1, granted=True, term=4, voters=3) is False
    assert prevote.on_response(2, granted=False, term=4, voters=3) is False
    assert prevote.on_deadline(term=4) == Ask(round=3, term=5)


def test_a_won_round_is_forgotten_when_a_current_leader_is_heard_again() -> None:
    """Issue 8, defect 5: a node that won during a leader stall and then heard the leader stood,
    at its next deadline, without asking again, and deposed a healthy leader."""
    prevote = PreVote(STICKY_S)
    prevote.on_deadline(term=4)
    assert prevote.on_response(1, granted=True, term=4, voters=3)
    prevote.on_leader_contact(now=10.0)
    assert prevote.on_deadline(term=4) == Ask(round=2, term=5)


def test_a_voter_that_heard_a_leader_recently_refuses() -> None:
    prevote = PreVote(STICKY_S)
    prevote.on_leader_contact(now=10.0)
    ask = dict(
        candidate_term=5, candidate_log=(4, 100), my_term=4, my_log=(4, 100), is_leader=False
    )
    assert prevote.grants(10.2, **ask) is False  # type: ignore[arg-type]
    assert prevote.grants(10.3, **ask) is True  # type: ignore[arg-type]


def test_a_voter_refuses_a_candidate_whose_log_is_behind_or_whose_term_is_not_newer() -> None:
    prevote = PreVote(STICKY_S)
    assert prevote.grants(1.0, 5, (4, 99), 4, (4, 100), False) is False
    assert prevote.grants(1.0, 5, (3, 500), 4, (4, 100), False) is False
    assert prevote.grants(1.0, 4, (4, 100), 4, (4, 100), False) is False
    assert prevote.grants(1.0, 5, (4, 100), 4, (4, 100), True) is False
    assert prevote.grants(1.0, 5, (5, 1), 4, (4, 100), False) is True


def test_the_uncounted_part_of_a_voters_own_stall_moves_its_leader_contact_later() -> None:
    """Rule 5: its leader's messages waited unread while it stalled."""
    prevote = PreVote(STICKY_S)
    prevote.on_leader_contact(now=10.0)
    prevote.on_own_stall(now=10.9, uncounted_s=0.75)  # stalled 10.0-10.9, 0.15 s counted
    assert not prevote.grants(10.75 + STICKY_S - 0.01, 5, (4, 4), 4, (4, 4), is_leader=False)
    assert prevote.grants(10.75 + STICKY_S, 5, (4, 4), 4, (4, 4), is_leader=False)


def test_a_stall_never_moves_the_leader_contact_past_now() -> None:
    prevote = PreVote(STICKY_S)
    prevote.on_leader_contact(now=10.0)
    prevote.on_own_stall(now=10.2, uncounted_s=5.0)
    assert prevote.grants(10.2 + STICKY_S, 5, (4, 4), 4, (4, 4), is_leader=False)


def test_a_stall_gives_no_stickiness_to_a_node_that_never_heard_a_leader() -> None:
    prevote = PreVote(STICKY_S)
    prevote.on_own_stall(now=10.0, uncounted_s=1.0)
    assert prevote.grants(10.0, 5, (4, 4), 4, (4, 4), is_leader=False)

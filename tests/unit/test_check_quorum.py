"""Check-quorum in listening time (replication/check_quorum.py), with a fake clock."""

from __future__ import annotations

from coordinator.replication.check_quorum import CheckQuorum, QuorumCheck

WINDOW_S = 0.3


def run(
    check: CheckQuorum,
    ticks: list[float],
    answers: list[float],
    voters: int = 3,
    start: float = 100.0,
) -> tuple[float, QuorumCheck]:
    """Feeds tick gaps (seconds) from `start`; returns (time, outcome) of the first STEP_DOWN or
    of the last tick. `answers` are the followers' last-response times, fixed."""
    now = start
    check.on_tick(now, True, answers, voters)
    outcome = QuorumCheck.KEEP
    for gap in ticks:
        now += gap
        outcome = check.on_tick(now, True, answers, voters)
        if outcome is QuorumCheck.STEP_DOWN:
            break
    return now, outcome


def test_a_leader_no_majority_answers_steps_down_after_one_window_of_listening() -> None:
    when, outcome = run(CheckQuorum(WINDOW_S), [0.05] * 20, answers=[0.0, 0.0])
    assert (
        outcome is QuorumCheck.STEP_DOWN
        and WINDOW_S - 1e-9 <= when - 100.0 <= WINDOW_S + 0.05 + 1e-9
    )


def test_a_leader_hearing_from_one_follower_of_two_keeps_its_role() -> None:
    check = CheckQuorum(WINDOW_S)
    check.on_tick(100.0, True, [0.0, 0.0], 3)
    outcomes = [
        check.on_tick(100.0 + 0.05 * i, True, [0.0, 100.0 + 0.05 * i], 3) for i in range(1, 30)
    ]
    assert QuorumCheck.STEP_DOWN not in outcomes


def test_one_long_stall_of_its_own_is_not_counted_as_its_followers_silence() -> None:
    """A 744 ms apply on a healthy cluster: the replies sit unread until the stall ends."""
    check = CheckQuorum(WINDOW_S)
    check.on_tick(100.0, True, [99.9, 99.9], 3)
    assert check.on_tick(100.744, True, [99.9, 99.9], 3) is QuorumCheck.KEEP
    assert check.stalls_discounted == 1
    # The ticks after the stall read the replies: the followers answer every heartbeat.
    outcomes = [
        check.on_tick(100.744 + 0.05 * i, True, [100.744 + 0.05 * i] * 2, 3) for i in range(1, 20)
    ]
    assert QuorumCheck.STEP_DOWN not in outcomes


def test_a_leader_whose_every_tick_is_slow_steps_down_within_two_windows() -> None:
    """Issue 8, defect 6: every gap of 160 ms was discounted as the leader's own stall."""
    when, outcome = run(CheckQuorum(WINDOW_S), [0.16] * 50, answers=[0.0, 0.0])
    assert outcome is QuorumCheck.STEP_DOWN and when - 100.0 <= 2 * WINDOW_S + 0.16


def test_losing_leadership_closes_the_window_and_a_new_term_opens_a_fresh_one() -> None:
    check = CheckQuorum(WINDOW_S)
    check.on_tick(100.0, True, [0.0, 0.0], 3)
    check.on_tick(100.25, True, [0.0, 0.0], 3)
    assert check.on_tick(100.3, False, [0.0, 0.0], 3) is QuorumCheck.KEEP
    assert check.on_tick(200.0, True, [200.0, 200.0], 3) is QuorumCheck.KEEP
    # only 50 ms into the new window
    assert check.on_tick(200.05, True, [0.0, 0.0], 3) is QuorumCheck.KEEP

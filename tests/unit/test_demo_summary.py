"""The demo's summary cannot contradict itself or its checks (issue 14, item 9). Each test
builds the facts of a run that printed one of the contradictions newcomers saw and asserts
the lines the summary makes from them:

- "0 were in doubt ... 1 sent now ...; 1 could not be reconciled": one in-doubt order, sent to
  the venue, whose state then could not be recorded, was counted as sent and as failed but not
  as in doubt;
- "303/300 orders": the venue keeps receiving the orders in flight after the target is reached
  and before the engines stop, and the live view printed them as a fraction of the target;
- a fourth epoch granted while stopping: the active engine was stopped (and resigned) before
  the standby, which was granted the role in between.
"""

from __future__ import annotations

from dataclasses import replace

from coordinator.demo.run import standbys_first
from coordinator.demo.summary import (
    Arrival,
    DemoFacts,
    Grant,
    Reconciliation,
    Takeover,
    summarize,
    venue_line,
)


def arrivals(count: int, *, start: int = 1, engine: str = "eng-a") -> tuple[Arrival, ...]:
    return tuple(
        Arrival(float(i), f"{engine}-{i:05d}", engine, 1) for i in range(start, start + count)
    )


def takeover(scene: str, to_engine: str, epoch: int, reconciliation: Reconciliation) -> Takeover:
    from_engine = "eng-a" if to_engine == "eng-b" else "eng-b"
    return Takeover(scene, from_engine, to_engine, epoch, 0.466, 134.0, reconciliation)


# One in-doubt order, which the venue had never received: sent now, then its acknowledgement
# could not be recorded (the cluster was unavailable a moment). The old engine reported it as
# marked_open=0, sent_from_book=1, reconcile_failed=1.
SENT_THEN_UNRECORDED = Reconciliation(open_orders=3, at_venue=0, sent_now=0, not_reconciled=1)
QUIET = Reconciliation(open_orders=2, at_venue=0, sent_now=0, not_reconciled=0)

RUN = DemoFacts(
    orders_target=300,
    grants=(
        Grant(1, "eng-a", "start"),
        Grant(2, "eng-b", "engine SIGKILL"),
        Grant(3, "eng-a", "engine SIGSTOP"),
    ),
    takeovers=(
        takeover("engine SIGKILL", "eng-b", 2, SENT_THEN_UNRECORDED),
        takeover("engine SIGSTOP", "eng-a", 3, QUIET),
    ),
    arrivals=arrivals(300),
    book=frozenset(a.cid for a in arrivals(300)),
    digests=frozenset({"d1"}),
    raft_failover_s=0.534,
    writes_resumed_s=0.761,
    zombie_write={"epoch": 2, "outcome": "STALE_EPOCH"},
    zombie_demoted={"reason": "lease expired"},
)


def line(facts: DemoFacts, starting: str) -> str:
    (found,) = [each for each in summarize(facts).lines if each.startswith(starting)]
    return found


def test_the_in_doubt_count_is_the_sum_of_what_became_of_each_in_doubt_order() -> None:
    assert [each for each in summarize(RUN).lines if each.startswith("note:")] == [
        "note: eng-b took over with epoch 2 and 3 open orders, 1 of them in doubt (PENDING_NEW), "
        "reconciled with the venue by client_order_id: 0 the venue already had, 0 sent now "
        "because it had never received them, 1 not reconciled (left PENDING_NEW for the next "
        "holder)",
        "note: eng-a took over with epoch 3 and 2 open orders, 0 of them in doubt (PENDING_NEW)",
    ]


def test_orders_past_the_target_are_not_shown_as_a_fraction_of_it() -> None:
    past = replace(
        RUN,
        arrivals=arrivals(303),
        book=frozenset(a.cid for a in arrivals(303)),
    )
    assert venue_line(past.orders_target, past.arrivals) == (
        "venue   303 orders received (target 300), 0 received more than once"
    )
    assert line(past, "orders the venue received") == (
        "orders the venue received                303 in 303 messages (the demo streams 300, "
        "then stops the engines: 3 more were in flight)"
    )


def test_every_venue_figure_counts_what_the_duplicate_check_counts() -> None:
    twice = (*arrivals(300), *arrivals(1), *arrivals(1))  # one order received three times
    facts = replace(RUN, arrivals=twice)
    summary = summarize(facts)
    (duplicates,) = [c for c in summary.checks if c.name == "no duplicate order at the venue"]
    assert duplicates == (
        "no duplicate order at the venue",
        False,
        "1 client_order_ids received more than once: ['eng-a-00001' x3]",
    )
    assert line(facts, "duplicates at the venue") == (
        "duplicates at the venue                  1 client_order_ids received more than once"
    )
    assert venue_line(facts.orders_target, facts.arrivals) == (
        "venue   300 orders received (target 300), 1 received more than once"
    )


def test_each_epoch_is_shown_with_the_phase_it_was_granted_in() -> None:
    stopping = replace(RUN, grants=(*RUN.grants, Grant(4, "eng-b", "stopping")))
    assert line(stopping, "epochs granted") == (
        "epochs granted                           1:eng-a (start) -> 2:eng-b (engine SIGKILL) "
        "-> 3:eng-a (engine SIGSTOP) -> 4:eng-b (stopping)"
    )


def test_the_standbys_are_stopped_before_the_holder_so_none_is_granted_the_role() -> None:
    assert standbys_first(["eng-a", "eng-b"], holder="eng-a") == ["eng-b", "eng-a"]
    assert standbys_first(["eng-a", "eng-b"], holder="eng-b") == ["eng-a", "eng-b"]
    assert standbys_first(["eng-a", "eng-b"], holder="") == ["eng-a", "eng-b"]


def test_the_summary_of_a_clean_run() -> None:
    assert summarize(RUN).lines == (
        "orders the venue received                300 in 300 messages",
        "duplicates at the venue                  0 client_order_ids received more than once",
        "orders in the coordinator's book         300",
        "epochs granted                           1:eng-a (start) -> 2:eng-b (engine SIGKILL) "
        "-> 3:eng-a (engine SIGSTOP)",
        "takeover after engine SIGKILL            eng-a -> eng-b (epoch 2) granted after 466 ms, "
        "book reconciled in 134 ms more",
        "takeover after engine SIGSTOP            eng-b -> eng-a (epoch 3) granted after 466 ms, "
        "book reconciled in 134 ms more",
        "Raft leader kill                         new leader in 534 ms, orders flowing again "
        "after 761 ms",
        "zombie write (epoch 2)                   STALE_EPOCH; demoted: lease expired",
        *[each for each in summarize(RUN).lines if each.startswith("note:")],
    )
    assert summarize(RUN).passed

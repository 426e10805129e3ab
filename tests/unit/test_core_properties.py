"""Property-based tests of the state machine: determinism, snapshots, and the seven invariants
of DESIGN.md checked after every step of random command sequences (stale epochs, retries,
conflicting retries, expiry races included)."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from coordinator.core import commands as c
from coordinator.core.model import OrderStatus, RiskLimits, Side
from coordinator.core.results import CampaignResult, FillResult, OrderResult, Refused, Result
from coordinator.core.state import CoordinatorState
from tests.unit.oracles import effective_limits, position_differences, position_from_fills

ENGINES = ["e1", "e2", "e3"]
ACCOUNTS = ["A1", "A2"]
INSTRUMENTS = ["BTC-USD", "ETH-USD"]
ORDER_IDS = [f"o{i}" for i in range(8)]
FILL_IDS = [f"f{i}" for i in range(10)]
quantities = st.sampled_from(["0.5", "1", "1.5", "2", "3", "10"]).map(Decimal)
prices = st.sampled_from(["99", "100", "100.5", "101"]).map(Decimal)
epochs = st.integers(min_value=1, max_value=6)


def commands() -> st.SearchStrategy[c.Command]:
    """Any command, with fields drawn from small pools so that keys collide often."""
    engine = st.sampled_from(ENGINES)
    cid = st.sampled_from(ORDER_IDS)
    return st.one_of(
        st.builds(
            c.Campaign, engine, st.sampled_from([300, 500]), st.sampled_from(["r1", "r2", "r3"])
        ),
        st.builds(c.KeepAlive, engine, epochs),
        st.builds(c.Expire, epochs, st.integers(0, 3)),
        st.builds(c.Resign, engine, epochs, st.sampled_from(["", "e2"])),
        st.builds(
            c.SubmitOrder,
            engine,
            epochs,
            cid,
            st.sampled_from(ACCOUNTS),
            st.sampled_from(INSTRUMENTS),
            st.sampled_from(list(Side)),
            quantities,
            prices,
        ),
        st.builds(
            c.UpdateOrder,
            engine,
            epochs,
            cid,
            st.sampled_from([OrderStatus.OPEN, OrderStatus.REJECTED, OrderStatus.CANCELED]),
            st.sampled_from(["", "V1", "V2"]),
            st.just(""),
        ),
        st.builds(c.CancelOrder, engine, epochs, cid),
        st.builds(c.ReportFill, engine, epochs, st.sampled_from(FILL_IDS), cid, quantities, prices),
        st.builds(
            c.SetRiskLimits,
            st.sampled_from(["*", "A1"]),
            st.sampled_from(["*", "BTC-USD"]),
            st.builds(
                RiskLimits,
                st.none() | st.sampled_from([Decimal(2), Decimal(5)]),
                st.none() | st.sampled_from([Decimal(4), Decimal(8)]),
                st.none() | st.integers(1, 4),
            ),
        ),
        st.builds(c.Halt, st.just("drill")),
        st.builds(c.Resume),
        st.builds(c.RequestHandoff, engine),
        st.builds(c.Barrier),
    )


def replay(
    log: list[tuple[c.Command, int]], state: CoordinatorState | None = None
) -> CoordinatorState:
    state = state or CoordinatorState()
    for command, at_ns in log:
        state.apply(command, at_ns)
    return state


logs = st.lists(st.tuples(commands(), st.integers(0, 10_000_000)), max_size=60).map(
    lambda pairs: [
        (cmd, 1_000_000_000 + sum(d for _, d in pairs[: i + 1])) for i, (cmd, _) in enumerate(pairs)
    ]
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(logs)
def test_replaying_one_log_on_two_fresh_states_gives_equal_digests(
    log: list[tuple[c.Command, int]],
) -> None:
    assert replay(log).digest() == replay(log).digest()


@SETTINGS
@given(logs, st.data())
def test_snapshot_plus_suffix_equals_full_replay(
    log: list[tuple[c.Command, int]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(log)))
    prefix = replay(log[:cut])
    resumed = replay(log[cut:], CoordinatorState.restore(prefix.snapshot()))
    assert resumed.snapshot() == replay(log).snapshot()


@SETTINGS
@given(logs)
def test_positions_equal_a_from_scratch_recomputation_from_fills(
    log: list[tuple[c.Command, int]],
) -> None:
    check_positions_equal_fills(replay(log))


def check_positions_equal_fills(state: CoordinatorState) -> None:
    """Invariant 6: positions equal the fold of fills per (account, instrument), recomputed
    exactly by the independent oracle."""
    per_key: dict[tuple[str, str], list[tuple[Side, Decimal, Decimal]]] = defaultdict(list)
    for fill in state.fills():
        order = state.order(fill.client_order_id)
        assert order is not None
        per_key[(order.account, order.instrument)].append((order.side, fill.quantity, fill.price))
    positions = state.positions()
    assert [(p.account, p.instrument) for p in positions] == sorted(per_key)
    wrong = {}
    for position in positions:
        key = (position.account, position.instrument)
        found = position_differences(position, position_from_fills(per_key[key]))
        if found:
            wrong[key] = found
    assert wrong == {}
    for order in state.orders():
        filled = sum(
            (f.quantity for f in state.fills() if f.client_order_id == order.client_order_id),
            Decimal(0),
        )
        assert order.filled_quantity == filled


class CoordinatorMachine(RuleBasedStateMachine):
    """Random command sequences; every invariant is checked after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.state = CoordinatorState()
        self.now_ns = 1_000_000_000
        self.log: list[tuple[c.Command, int]] = []
        self.acked_orders: set[str] = set()
        self.first_acceptance: dict[str, int] = defaultdict(int)
        self.grants: dict[int, str] = {}
        self.last_epoch = 0

    # -- the one step every rule goes through -------------------------------------------

    def step(self, command: c.Command, advance_ms: int = 1) -> Result:
        self.now_ns += advance_ms * 1_000_000
        before_snapshot = self.state.snapshot()
        before = self.state.leadership()
        submit_context = self._submit_context(command)
        result = self.state.apply(command, self.now_ns)
        self.log.append((command, self.now_ns))
        if isinstance(result, Refused):
            assert self.state.snapshot() == before_snapshot, "a refused command changed the state"
            return result
        if isinstance(command, (c.SubmitOrder, c.UpdateOrder, c.CancelOrder, c.ReportFill)):
            # Invariant 3: fencing. An accepted engine write carries the current epoch of its
            # holder.
            assert before.holder is not None
            assert (command.engine_id, command.epoch) == (before.holder.engine_id, before.epoch)
        if isinstance(result, CampaignResult) and result.granted and not result.duplicate:
            # Invariant 4: one holder per epoch; epochs strictly increase.
            assert result.epoch == self.last_epoch + 1 and result.epoch not in self.grants
            self.grants[result.epoch] = result.holder_id
            self.last_epoch = result.epoch
        if isinstance(command, c.SubmitOrder) and isinstance(result, OrderResult):
            self.acked_orders.add(command.client_order_id)
            if not result.duplicate:
                self.first_acceptance[command.client_order_id] += 1
                self._check_risk(command, *submit_context)
        if isinstance(result, FillResult):
            self.acked_orders.add(result.order.client_order_id)
        return result

    def _submit_context(self, command: c.Command) -> tuple[bool, Decimal, Decimal, Decimal, int]:
        """Before a submit: (halted, net position, open buy quantity, open sell quantity, the
        account's open order count), counted from the state's orders and positions."""
        if not isinstance(command, c.SubmitOrder):
            return (False, Decimal(0), Decimal(0), Decimal(0), 0)
        key = (command.account, command.instrument)
        position = next(
            (p.quantity for p in self.state.positions() if (p.account, p.instrument) == key),
            Decimal(0),
        )
        open_orders = self.state.orders(open_only=True)
        same_book = [o for o in open_orders if (o.account, o.instrument) == key]
        buy_open = sum((o.remaining_quantity for o in same_book if o.side is Side.BUY), Decimal(0))
        sell_open = sum(
            (o.remaining_quantity for o in same_book if o.side is Side.SELL), Decimal(0)
        )
        count = sum(1 for o in open_orders if o.account == command.account)
        return (self.state.halted, position, buy_open, sell_open, count)

    def _check_risk(
        self,
        command: c.SubmitOrder,
        halted: bool,
        position: Decimal,
        buy_open: Decimal,
        sell_open: Decimal,
        open_count: int,
    ) -> None:
        """Invariant 7, recomputed from scratch: no accepted order breaks a limit or the halt."""
        assert not halted, "an order was accepted while halted"
        limits = effective_limits(self.state.risk_limits(), command.account, command.instrument)
        if limits.order_quantity_max is not None:
            assert command.quantity <= limits.order_quantity_max
        if limits.open_orders_max is not None:
            assert open_count + 1 <= limits.open_orders_max
        if limits.position_max is not None:
            if command.side is Side.BUY:
                assert position + buy_open + command.quantity <= limits.position_max
            else:
                assert -(position - sell_open - command.quantity) <= limits.position_max

    # -- choosing fields: mostly valid, sometimes stale ---------------------------------------

    def engine_epoch(self, data: st.DataObject) -> tuple[str, int]:
        holder = self.state.leadership().holder
        choice = data.draw(st.sampled_from(["holder"] * 6 + ["stale", "other"]))
        if choice == "holder" and holder is not None:
            return holder.engine_id, holder.epoch
        if choice == "stale":
            return data.draw(st.sampled_from(ENGINES)), data.draw(
                st.integers(1, max(1, self.last_epoch))
            )
        return data.draw(st.sampled_from(ENGINES)), data.draw(epochs)

    def order_id(self, data: st.DataObject) -> str:
        """Mostly an order that exists, so updates and fills get past UNKNOWN_ORDER."""
        known = [o.client_order_id for o in self.state.orders()]
        if known and data.draw(st.integers(0, 4)):
            return data.draw(st.sampled_from(known))
        return data.draw(st.sampled_from(ORDER_IDS))

    # -- rules --------------------------------------------------------------------------------

    @initialize()
    def first_grant(self) -> None:
        self.step(c.Campaign("e1", 500, "r0"))

    @rule(
        engine=st.sampled_from(ENGINES),
        request=st.sampled_from(["r1", "r2", "r3", "r4"]),
        ttl=st.sampled_from([300, 500]),
    )
    def campaign(self, engine: str, request: str, ttl: int) -> None:
        self.step(c.Campaign(engine, ttl, request))

    @rule(data=st.data())
    def keep_alive(self, data: st.DataObject) -> None:
        self.step(c.KeepAlive(*self.engine_epoch(data)))

    @rule(data=st.data(), advance=st.integers(0, 600))
    def expire(self, data: st.DataObject, advance: int) -> None:
        holder = self.state.leadership().holder
        if holder is not None and data.draw(st.booleans()):
            self.step(c.Expire(holder.epoch, holder.lease_seq), advance)  # the timer's own view
        else:
            # a raced expiry
            self.step(c.Expire(data.draw(epochs), data.draw(st.integers(0, 3))), advance)

    @rule(data=st.data(), successor=st.sampled_from(["", "e3"]))
    def resign(self, data: st.DataObject, successor: str) -> None:
        self.step(c.Resign(*self.engine_epoch(data), successor))

    @rule(
        data=st.data(),
        cid=st.sampled_from(ORDER_IDS),
        account=st.sampled_from(ACCOUNTS),
        instrument=st.sampled_from(INSTRUMENTS),
        side=st.sampled_from(list(Side)),
        quantity=quantities,
        price=prices,
    )
    def submit(
        self,
        data: st.DataObject,
        cid: str,
        account: str,
        instrument: str,
        side: Side,
        quantity: Decimal,
        price: Decimal,
    ) -> None:
        engine, epoch = self.engine_epoch(data)
        self.step(c.SubmitOrder(engine, epoch, cid, account, instrument, side, quantity, price))

    @precondition(lambda self: self.log)
    @rule(data=st.data())
    def retry_the_last_command(self, data: st.DataObject) -> None:
        self.step(self.log[-1][0])

    @rule(
        data=st.data(),
        status=st.sampled_from([OrderStatus.OPEN, OrderStatus.REJECTED, OrderStatus.CANCELED]),
        venue=st.sampled_from(["", "V1", "V2"]),
    )
    def update(self, data: st.DataObject, status: OrderStatus, venue: str) -> None:
        self.step(c.UpdateOrder(*self.engine_epoch(data), self.order_id(data), status, venue, ""))

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.step(c.CancelOrder(*self.engine_epoch(data), self.order_id(data)))

    @rule(
        data=st.data(),
        fill_id=st.sampled_from(FILL_IDS),
        quantity=quantities,
        price=prices,
        whole_remainder=st.booleans(),
    )
    def report_fill(
        self,
        data: st.DataObject,
        fill_id: str,
        quantity: Decimal,
        price: Decimal,
        whole_remainder: bool,
    ) -> None:
        cid = self.order_id(data)
        order = self.state.order(cid)
        if whole_remainder and order is not None and order.remaining_quantity > 0:
            quantity = order.remaining_quantity
        self.step(c.ReportFill(*self.engine_epoch(data), fill_id, cid, quantity, price))

    @rule(
        account=st.sampled_from(["*", "A1"]),
        instrument=st.sampled_from(["*", "BTC-USD"]),
        quantity_max=st.none() | st.sampled_from([Decimal(2), Decimal(5)]),
        position_max=st.none() | st.sampled_from([Decimal(4), Decimal(8)]),
        open_max=st.none() | st.integers(1, 4),
    )
    def set_limits(
        self,
        account: str,
        instrument: str,
        quantity_max: Decimal | None,
        position_max: Decimal | None,
        open_max: int | None,
    ) -> None:
        self.step(
            c.SetRiskLimits(account, instrument, RiskLimits(quantity_max, position_max, open_max))
        )

    @rule(halt=st.booleans())
    def halt_or_resume(self, halt: bool) -> None:
        self.step(c.Halt("drill") if halt else c.Resume())

    # -- invariants -----------------------------------------------------------------------------

    @invariant()
    def no_duplicate_orders(self) -> None:
        # Invariant 1: each client_order_id was accepted as new at most once.
        assert all(count == 1 for count in self.first_acceptance.values())

    @invariant()
    def no_lost_acknowledged_writes(self) -> None:
        # Invariant 2: every order ever acknowledged is in the state.
        assert all(self.state.order(cid) is not None for cid in self.acked_orders)

    @invariant()
    def positions_equal_fills(self) -> None:
        check_positions_equal_fills(self.state)

    @invariant()
    def replicas_converge(self) -> None:
        # Invariant 5 at the core's level: a replica replaying the same log, or restoring a
        # snapshot, has the same digest.
        assert replay(self.log).digest() == self.state.digest()
        assert CoordinatorState.restore(self.state.snapshot()).digest() == self.state.digest()

    @invariant()
    def derived_indexes_match_a_recomputation(self) -> None:
        fresh = CoordinatorState.restore(self.state.snapshot())
        assert fresh._open_count == {k: v for k, v in self.state._open_count.items() if v}
        assert {k: v for k, v in fresh._exposure.items() if v.buy_open or v.sell_open} == {
            k: v for k, v in self.state._exposure.items() if v.buy_open or v.sell_open
        }


CoordinatorMachine.TestCase.settings = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCoordinatorMachine = CoordinatorMachine.TestCase

"""The load models as pure decisions: shape ticks, arrival schedules, slots and session plans."""

from __future__ import annotations

import math
import random
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from harness.loadmodel import (
    MAX_SLOT_SPAWN_RATE,
    ArrivalPlan,
    SlotBook,
    arrival_offsets,
    arrival_plan,
    closed_tick,
    open_slot_spawn_rate,
    open_tick,
    plan_session,
    stage_ends,
    worker_index,
)
from harness.scenario import LoadConfig, Stage


def closed(**load: Any) -> LoadConfig:
    return LoadConfig.model_validate(load)


def open_load(rate: float, *, max_sessions: int = 10, duration_s: float = 10.0, **extra: Any) -> LoadConfig:
    return LoadConfig.model_validate(
        {
            "model": "open",
            "duration_s": duration_s,
            "open": {"arrival_rate_per_s": rate, "max_sessions": max_sessions, **extra},
        }
    )


stages_st = st.lists(
    st.builds(
        Stage,
        duration_s=st.floats(0.01, 1000, allow_nan=False),
        users=st.integers(0, 100_000),
        spawn_rate=st.floats(0.01, 1000, allow_nan=False),
    ),
    min_size=1,
    max_size=12,
)


# --- closed model -----------------------------------------------------------------------


def test_a_ramp_step_and_spike_play_their_stages_in_order_and_then_stop() -> None:
    load = closed(
        spawn_rate=5,
        stages=[
            {"duration_s": 10, "users": 5},
            {"duration_s": 5, "users": 20, "spawn_rate": 50},
            {"duration_s": 10, "users": 5},
        ],
    )
    stages = load.effective_stages()
    ticks = [closed_tick(stages, t) for t in (0.0, 9.999, 10.0, 14.9, 15.0, 24.99, 25.0, 99.0)]
    assert [(t.users, t.spawn_rate, t.stage) if t else None for t in ticks] == [
        (5, 5.0, 0),
        (5, 5.0, 0),
        (20, 50.0, 1),
        (20, 50.0, 1),
        (5, 5.0, 2),
        (5, 5.0, 2),
        None,
        None,
    ]
    assert ticks[0] is not None and ticks[0].as_locust() == (5, 5.0)


def test_a_capacity_search_steps_up_by_step_users_every_step() -> None:
    load = closed(
        spawn_rate=20,
        capacity={"start_users": 10, "step_users": 10, "max_users": 40, "step_duration_s": 30, "settle_s": 5},
    )
    stages = load.effective_stages()
    targets = [closed_tick(stages, 30.0 * i + 1) for i in range(5)]
    assert [(t.users, t.stage) if t else None for t in targets] == [(10, 0), (20, 1), (30, 2), (40, 3), None]
    assert load.total_duration_s() == 120


def test_a_plain_users_and_duration_load_is_one_stage() -> None:
    stages = closed(users=7, spawn_rate=3, duration_s=12).effective_stages()
    assert [closed_tick(stages, t) for t in (0, 11.9)] == [closed_tick(stages, 0)] * 2
    assert closed_tick(stages, 0) is not None and closed_tick(stages, 12) is None


def test_a_stage_without_spawn_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="stage 0 has no spawn_rate"):
        closed_tick([Stage(duration_s=1, users=1)], 0.5)


@given(stages_st, st.floats(0, 1, allow_nan=False))
def test_the_target_is_the_stage_the_time_falls_in_and_never_above_the_peak(
    stages: list[Stage], fraction: float
) -> None:
    ends = stage_ends(stages)
    t = fraction * ends[-1]
    tick = closed_tick(stages, t)
    if t >= ends[-1]:
        assert tick is None
        return
    assert tick is not None
    start = ends[tick.stage - 1] if tick.stage else 0.0
    assert start <= t < ends[tick.stage]
    assert (tick.users, tick.spawn_rate) == (stages[tick.stage].users, stages[tick.stage].spawn_rate)
    assert tick.users <= max(s.users for s in stages)


@given(stages_st)
def test_the_stages_sum_to_the_total_duration_and_the_shape_ends_exactly_there(stages: list[Stage]) -> None:
    load = LoadConfig(stages=stages)
    ends = stage_ends(load.effective_stages())
    assert ends[-1] == pytest.approx(load.total_duration_s(), rel=1e-12)
    assert closed_tick(stages, ends[-1]) is None
    assert closed_tick(stages, math.nextafter(ends[-1], 0)) is not None
    assert max(s.users for s in stages) == load.peak_sessions()


@given(stages_st, st.lists(st.floats(0, 1, allow_nan=False), min_size=2, max_size=20))
def test_the_stage_index_never_goes_back_as_time_passes(stages: list[Stage], fractions: list[float]) -> None:
    total = stage_ends(stages)[-1]
    ticks = [closed_tick(stages, f * total) for f in sorted(fractions)]
    indices = [t.stage if t else len(stages) for t in ticks]
    assert indices == sorted(indices)


# --- open model: the shape ----------------------------------------------------------------


def test_the_open_shape_holds_every_slot_until_duration_of_arrivals_has_passed() -> None:
    load = LoadConfig.model_validate(
        {
            "model": "open",
            "duration_s": 10,
            "spawn_rate": 2,
            "open": {"arrival_rate_per_s": 5, "max_sessions": 40},
        }
    )
    before = open_tick(load, None)
    assert before is not None and (before.users, before.stage) == (40, -1)
    assert open_tick(load, 9.99) == before
    assert open_tick(load, 10.0) is None


def test_slots_spawn_fast_but_at_least_at_the_scenarios_spawn_rate() -> None:
    assert open_slot_spawn_rate(open_load(1, max_sessions=40)) == 40.0  # load.spawn_rate 10 < 40 slots
    assert open_slot_spawn_rate(open_load(1, max_sessions=50_000)) == MAX_SLOT_SPAWN_RATE
    fast = LoadConfig.model_validate(
        {
            "model": "open",
            "duration_s": 1,
            "spawn_rate": 5000,
            "open": {"arrival_rate_per_s": 1, "max_sessions": 3},
        }
    )
    assert open_slot_spawn_rate(fast) == 5000.0


# --- open model: arrivals -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "index"), [("w1", 0), ("w2", 1), ("w12", 11), ("local", 0), ("master", 0)])
def test_worker_index_comes_from_the_worker_name(name: str, index: int) -> None:
    assert worker_index(name) == index


def test_the_rate_is_split_evenly_over_the_processes() -> None:
    load = open_load(30, arrivals="constant")
    plans = [arrival_plan(load, 3, i) for i in range(3)]
    assert [p.rate_per_s for p in plans] == [10.0, 10.0, 10.0]
    assert [p.phase for p in plans] == [0.0, 1 / 3, 2 / 3]


@pytest.mark.parametrize(("processes", "index"), [(0, 0), (2, 2), (2, -1)])
def test_a_process_index_outside_the_processes_is_refused(processes: int, index: int) -> None:
    with pytest.raises(ValueError, match="process index"):
        arrival_plan(open_load(1), processes, index)


def test_a_closed_load_has_no_arrival_plan() -> None:
    with pytest.raises(ValueError, match="needs an open-model load"):
        arrival_plan(closed(users=1, duration_s=1), 1, 0)


@given(
    rate=st.floats(0.01, 200, allow_nan=False),
    duration=st.floats(0.1, 30, allow_nan=False),
    processes=st.integers(1, 8),
    data=st.data(),
)
@settings(deadline=None)
def test_constant_arrivals_number_rate_times_duration_within_one(
    rate: float, duration: float, processes: int, data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, processes - 1))
    plan = arrival_plan(open_load(rate, duration_s=duration, arrivals="constant"), processes, index)
    offsets = list(arrival_offsets(plan, random.Random(0)))
    assert abs(len(offsets) - plan.rate_per_s * duration) <= 1
    assert all(0 <= t < duration for t in offsets)
    gaps = [b - a for a, b in pairwise(offsets)]
    assert all(math.isclose(g, 1 / plan.rate_per_s, rel_tol=1e-6) for g in gaps)


@given(rate=st.floats(0.5, 200, allow_nan=False), processes=st.integers(1, 6))
def test_constant_arrivals_of_all_processes_together_are_evenly_spaced_at_the_full_rate(
    rate: float, processes: int
) -> None:
    load = open_load(rate, duration_s=5, arrivals="constant")
    merged = sorted(
        t
        for i in range(processes)
        for t in arrival_offsets(arrival_plan(load, processes, i), random.Random(0))
    )
    assert merged == pytest.approx([k / rate for k in range(len(merged))], abs=1e-9)
    assert abs(len(merged) - rate * 5) <= processes


@given(
    rate=st.floats(0.01, 300, allow_nan=False),
    duration=st.floats(0.1, 60, allow_nan=False),
    seed=st.integers(0, 2**32),
)
@settings(max_examples=50, deadline=None)
def test_poisson_arrivals_are_increasing_bounded_and_deterministic_for_a_seed(
    rate: float, duration: float, seed: int
) -> None:
    plan = arrival_plan(open_load(rate, duration_s=duration), 1, 0)
    offsets = list(arrival_offsets(plan, random.Random(seed)))
    assert offsets == list(arrival_offsets(plan, random.Random(seed)))
    assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)
    assert all(0 <= t < duration for t in offsets)
    assert len(offsets) <= plan.max_arrivals


@pytest.mark.parametrize("seed", range(5))
def test_poisson_arrival_counts_are_near_rate_times_duration(seed: int) -> None:
    # 50/s for 100 s: 5000 expected, standard deviation sqrt(5000) = 71; seeded, so never flaky.
    plan = arrival_plan(open_load(50, duration_s=100), 1, 0)
    count = len(list(arrival_offsets(plan, random.Random(seed))))
    assert abs(count - 5000) <= 4 * math.sqrt(5000)


def test_different_seeds_give_different_poisson_schedules() -> None:
    plan = arrival_plan(open_load(10, duration_s=10), 1, 0)
    assert list(arrival_offsets(plan, random.Random(1))) != list(arrival_offsets(plan, random.Random(2)))


def test_the_arrival_bound_cuts_a_schedule_short() -> None:
    plan = ArrivalPlan(rate_per_s=100, duration_s=10, arrivals="poisson", phase=0, max_arrivals=7)
    assert len(list(arrival_offsets(plan, random.Random(0)))) == 7


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rate_per_s": 0}, "rate_per_s must be > 0"),
        ({"duration_s": -1}, "duration_s must be > 0"),
        ({"phase": 1.0}, "phase must be in"),
        ({"max_arrivals": -1}, "max_arrivals must be >= 0"),
    ],
)
def test_an_arrival_plan_checks_its_fields(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {
        "rate_per_s": 1,
        "duration_s": 1,
        "arrivals": "poisson",
        "phase": 0.0,
        "max_arrivals": 1,
    } | changes
    with pytest.raises(ValueError, match=message):
        ArrivalPlan(**fields)


# --- open model: slots ---------------------------------------------------------------------


class SlotBookMachine(RuleBasedStateMachine):
    """The slot book against a model: lists of idle, busy slots and waiting arrivals."""

    def __init__(self) -> None:
        super().__init__()
        self.book = SlotBook()
        self.slots = 0
        self.busy = 0
        self.waiting = 0
        self.offered = self.admitted = 0

    @rule()
    def a_slot_starts(self) -> None:
        self.book.add_slot()
        self.slots += 1

    @precondition(lambda self: self.slots - self.busy - self.waiting > 0)
    @rule()
    def an_idle_slot_stops(self) -> None:
        self.book.remove_slot()
        self.slots -= 1

    @rule()
    def an_arrival_comes(self) -> None:
        self.offered += 1
        admitted = self.book.offer()
        assert admitted == (self.slots - self.busy - self.waiting > 0)
        if admitted:
            self.admitted += 1
            self.waiting += 1

    @rule()
    def a_slot_takes_an_arrival(self) -> None:
        if self.waiting == 0:
            with pytest.raises(ValueError, match="no admitted arrival"):
                self.book.take()
            return
        self.book.take()
        self.waiting -= 1
        self.busy += 1

    @rule()
    def a_session_ends(self) -> None:
        if self.busy == 0:
            with pytest.raises(ValueError, match="no busy slot"):
                self.book.release()
            return
        self.book.release()
        self.busy -= 1

    @precondition(lambda self: self.waiting > 0)
    @rule()
    def the_run_ends_with_an_arrival_waiting(self) -> None:
        self.book.abandon()
        self.waiting -= 1

    @invariant()
    def the_book_matches_the_model(self) -> None:
        assert (self.book.slots, self.book.busy, self.book.queued) == (self.slots, self.busy, self.waiting)

    @invariant()
    def sessions_in_flight_never_exceed_the_slots(self) -> None:
        assert 0 <= self.book.busy + self.book.queued <= self.book.slots


TestSlotBook = SlotBookMachine.TestCase


def test_an_arrival_finding_every_slot_busy_is_not_admitted() -> None:
    book = SlotBook()
    book.add_slot()
    assert book.offer() and not book.offer()  # the first waits for the only slot
    book.take()
    assert not book.offer()
    book.release()
    assert book.offer()


def test_removing_a_slot_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match="no slot to remove"):
        SlotBook().remove_slot()


# --- sessions --------------------------------------------------------------------------------


MIX = closed(
    users=1,
    duration_s=1,
    think_time_s={"min": 0.2, "max": 0.7},
    sessions=[
        {"name": "chat", "weight": 3, "role": "user", "turns": {"min": 2, "max": 5}},
        {"name": "ops", "weight": 1, "role": "admin", "turns": {"min": 7, "max": 7}, "servers": ["weather"]},
    ],
)


@given(
    seed=st.integers(0, 2**31), worker=st.sampled_from(["local", "w1", "w7"]), number=st.integers(1, 10**6)
)
def test_a_session_plan_is_deterministic_and_within_its_types_ranges(
    seed: int, worker: str, number: int
) -> None:
    plan = plan_session(MIX, seed, worker, number)
    assert plan == plan_session(MIX, seed, worker, number)
    assert plan.session_id == f"{worker}-s{number}" and plan.number == number
    turns = plan.session_type.turns
    assert turns.min <= plan.turns <= turns.max
    assert len(plan.think_s) == plan.turns
    assert all(0.2 <= t <= 0.7 for t in plan.think_s)


def test_session_types_are_picked_in_proportion_to_their_weights() -> None:
    picked = Counter(plan_session(MIX, 42, "w1", n).session_type.name for n in range(1, 4001))
    assert picked["chat"] / 4000 == pytest.approx(0.75, abs=0.03)
    assert set(picked) == {"chat", "ops"}


def test_turns_cover_the_whole_range() -> None:
    turns = {plan_session(MIX, 1, "local", n).turns for n in range(1, 500)}
    assert turns == {2, 3, 4, 5, 7}


def test_workers_and_seeds_get_different_sessions() -> None:
    def plans(seed: int, worker: str) -> list[tuple[str, int, tuple[float, ...]]]:
        return [
            (p.session_type.name, p.turns, p.think_s)
            for p in (plan_session(MIX, seed, worker, n) for n in range(1, 30))
        ]

    assert plans(1, "w1") != plans(1, "w2")
    assert plans(1, "w1") != plans(2, "w1")

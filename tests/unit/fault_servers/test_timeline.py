"""Placing a plan on the wall clock and reporting each fault window as applied, exactly once."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from fault_servers import ErrorFault, FaultPlan, HangFault, TimelineWindow
from fault_servers.model import AppliedWindow, Schedule, WindowTracker

RUN_START = 100.0
PLAN = FaultPlan(
    faults=(ErrorFault(message="static"),),
    timeline=(
        TimelineWindow(at_s=1.0, for_s=2.0, fault=HangFault()),
        TimelineWindow(at_s=5.0, fault=ErrorFault(probability=0.5)),
        TimelineWindow(at_s=0.5, for_s=0.0, fault=HangFault()),
    ),
)


def spans(rows: list[AppliedWindow]) -> list[tuple[str, float, float]]:
    return [(row.key_path, row.t_start, row.t_end) for row in rows]


def test_the_active_faults_at_a_moment_come_in_draw_order() -> None:
    schedule = Schedule(PLAN, RUN_START, installed_at=RUN_START)

    assert [a.key_path for a in schedule.active(RUN_START + 1.5)] == ["faults[0]", "timeline[0]"]
    assert [a.key_path for a in schedule.active(RUN_START + 6.0)] == ["faults[0]", "timeline[1]"]
    assert [a.key_path for a in schedule.active(RUN_START + 0.5)] == [
        "faults[0]"
    ]  # zero-length: never active


def test_the_next_boundary_is_the_next_window_start_or_end() -> None:
    schedule = Schedule(PLAN, RUN_START, installed_at=RUN_START)

    assert schedule.next_boundary(RUN_START) == RUN_START + 0.5
    assert schedule.next_boundary(RUN_START + 1.0) == RUN_START + 3.0
    assert schedule.next_boundary(RUN_START + 3.0) == RUN_START + 5.0
    assert schedule.next_boundary(RUN_START + 5.0) is None


def test_a_window_is_reported_once_when_it_ends_and_the_rest_when_the_process_stops() -> None:
    tracker = WindowTracker(Schedule(PLAN, RUN_START, installed_at=RUN_START))

    early = tracker.sync(RUN_START + 2.0)
    ended = tracker.sync(RUN_START + 3.0)
    again = tracker.sync(RUN_START + 4.0)
    at_stop = tracker.close_all(RUN_START + 9.0)

    assert early == []
    assert spans(ended) == [("timeline[0]", RUN_START + 1.0, RUN_START + 3.0)]
    assert again == []
    assert spans(at_stop) == [
        ("faults[0]", RUN_START, RUN_START + 9.0),
        ("timeline[1]", RUN_START + 5.0, RUN_START + 9.0),
    ]
    assert tracker.close_all(RUN_START + 10.0) == []


def test_windows_are_clipped_to_the_life_of_the_plan() -> None:
    late = WindowTracker(Schedule(PLAN, RUN_START, installed_at=RUN_START + 2.0))

    assert spans(late.close_all(RUN_START + 2.5)) == [
        ("faults[0]", RUN_START + 2.0, RUN_START + 2.5),
        ("timeline[0]", RUN_START + 2.0, RUN_START + 2.5),
    ]


def test_a_window_that_ended_before_the_plan_was_installed_is_never_reported() -> None:
    tracker = WindowTracker(Schedule(PLAN, RUN_START, installed_at=RUN_START + 4.0))

    assert [row.key_path for row in tracker.sync(RUN_START + 4.0)] == []
    assert [row.key_path for row in tracker.close_all(RUN_START + 6.0)] == ["faults[0]", "timeline[1]"]


def test_rows_carry_the_kind_and_the_fault_file_parameters() -> None:
    (row,) = WindowTracker(Schedule(PLAN, RUN_START, RUN_START)).sync(RUN_START + 3.0)

    assert (row.kind, row.params) == ("hang", {"probability": 1.0, "tools": []})


def test_open_windows_have_their_scheduled_end_or_infinity() -> None:
    tracker = WindowTracker(Schedule(PLAN, RUN_START, RUN_START))

    assert spans(tracker.open_windows(RUN_START + 1.0)) == [
        ("faults[0]", RUN_START, math.inf),
        ("timeline[0]", RUN_START + 1.0, RUN_START + 3.0),
    ]


windows = st.lists(
    st.tuples(st.floats(0, 20, allow_nan=False), st.none() | st.floats(0, 10, allow_nan=False)),
    max_size=6,
)


@given(
    windows=windows,
    installed_offset=st.floats(0, 15, allow_nan=False),
    syncs=st.lists(st.floats(0, 40, allow_nan=False), max_size=8),
    stop_offset=st.floats(0, 40, allow_nan=False),
)
def test_every_window_overlapping_the_plan_life_is_reported_exactly_once_with_its_clipped_span(
    windows: list[tuple[float, float | None]],
    installed_offset: float,
    syncs: list[float],
    stop_offset: float,
) -> None:
    plan = FaultPlan(timeline=tuple(TimelineWindow(at_s=a, for_s=f, fault=HangFault()) for a, f in windows))
    installed_at = RUN_START + installed_offset
    stop = installed_at + stop_offset
    tracker = WindowTracker(Schedule(plan, RUN_START, installed_at))

    rows = []
    for offset in sorted(syncs):
        rows += tracker.sync(min(installed_at + offset, stop))
    rows += tracker.close_all(stop)

    overlapping = {}
    for i, (at_s, for_s) in enumerate(windows):
        start = max(RUN_START + at_s, installed_at)
        end = min(math.inf if for_s is None else RUN_START + at_s + for_s, stop)
        if start < end:
            overlapping[f"timeline[{i}]"] = (start, end)
    reported = [(key, (start, end)) for key, start, end in spans(rows)]
    assert len({key for key, _ in reported}) == len(reported)
    assert {key: span for key, span in reported if key in overlapping} == overlapping
    assert all(start == end for key, (start, end) in reported if key not in overlapping)

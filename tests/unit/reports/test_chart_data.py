"""The numbers behind the charts: windows, per-second counts, in-flight counts, fault and state spans."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest

from reports.chart_data import (
    StateSpan,
    counts_per_second,
    fault_spans,
    gauge_columns,
    in_flight,
    latency_windows,
    state_spans,
)

T0 = 1_700_000_000.0


def _requests(rows: Sequence[tuple[float, float | None, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "t_start": [T0 + start for start, _, _ in rows],
            "latency_s": [latency for _, latency, _ in rows],
            "outcome": [outcome for _, _, outcome in rows],
        }
    )


def test_latency_windows_are_nearest_rank_percentiles_per_second_of_start() -> None:
    rows = [(0.1 + i * 0.001, (i + 1) / 100, "ok") for i in range(100)]  # 10 ms .. 1 s in second 0
    rows += [(1.5, 0.5, "error"), (1.6, 9.0, "dropped")]

    windows = latency_windows(_requests(rows), T0)

    assert windows["start_s"].tolist() == [0.0, 1.0]
    first = windows.iloc[0]
    assert (first["count"], first["p50"], first["p95"], first["p99"]) == (100, 0.5, 0.95, 0.99)
    assert windows.iloc[1]["count"] == 1  # the dropped request does not count
    assert windows.iloc[1]["p99"] == 0.5


def test_latency_windows_leave_gaps_where_no_request_started() -> None:
    windows = latency_windows(_requests([(0.2, 0.1, "ok"), (5.2, 0.2, "ok")]), T0)

    assert windows["start_s"].tolist() == [0.0, 5.0]


def test_latency_windows_of_no_requests_are_empty_with_their_columns() -> None:
    windows = latency_windows(_requests([(1.0, None, "dropped")]), T0)

    assert windows.empty
    assert list(windows.columns) == ["start_s", "count", "p50", "p95", "p99"]


def test_counts_per_second_fill_empty_seconds_with_zero() -> None:
    seconds, counts = counts_per_second(np.array([0.1, 0.2, 3.5]), 0.0, 4.0)

    assert seconds.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert counts.tolist() == [2.0, 0.0, 0.0, 1.0]


def test_in_flight_counts_open_intervals_at_each_tick() -> None:
    ticks, counts = in_flight(np.array([0.0, 0.05, 0.25]), np.array([0.3, 0.15, 0.35]), step_s=0.1)

    assert np.allclose(ticks, [0.0, 0.1, 0.2, 0.3, 0.4])
    assert counts.tolist() == [1.0, 2.0, 1.0, 1.0, 0.0]


def test_in_flight_of_nothing_is_empty() -> None:
    ticks, counts = in_flight(np.array([]), np.array([]))

    assert ticks.size == 0 and counts.size == 0


def test_fault_rows_of_one_window_from_restarted_servers_become_one_span() -> None:
    faults = pd.DataFrame(
        {
            "t_start": [T0 + 10.0, T0 + 11.0, T0 + 19.0, T0 + 30.0],
            "t_end": [T0 + 10.001, T0 + 11.001, T0 + 19.001, None],
            "target": ["weather"] * 4,
            "kind": ["crash", "crash", "crash", "latency"],
            "params": ["{}"] * 4,
            "window": ["timeline[0]", "timeline[0]", "timeline[0]", "timeline[1]"],
        }
    )

    spans = fault_spans(faults, T0, open_end_s=40.0)

    assert [(span.target, span.kind) for span in spans] == [("weather", "crash"), ("weather", "latency")]
    assert [(span.start_s, span.end_s) for span in spans] == [
        (10.0, pytest.approx(19.001)),
        (30.0, 40.0),
    ]


def test_fault_rows_without_a_window_column_merge_only_where_they_overlap() -> None:
    faults = pd.DataFrame(
        {
            "t_start": [T0 + 1.0, T0 + 2.0, T0 + 5.0],
            "t_end": [T0 + 3.0, T0 + 4.0, T0 + 6.0],
            "target": ["db"] * 3,
            "kind": ["error"] * 3,
            "params": [""] * 3,
        }
    )

    spans = fault_spans(faults, T0, open_end_s=10.0)

    assert [(span.start_s, span.end_s) for span in spans] == [(1.0, 4.0), (5.0, 6.0)]


def test_breaker_state_spans_follow_transitions_and_servers_without_any_stay_closed() -> None:
    breaker = pd.DataFrame(
        {
            "t": [T0 + 2.0, T0 + 4.0, T0 + 5.0],
            "server": ["weather"] * 3,
            "from_state": ["closed", "open", "half_open"],
            "to_state": ["open", "half_open", "closed"],
            "reason": [""] * 3,
        }
    )

    spans = state_spans(breaker, ["database", "weather"], T0, 0.0, 10.0)

    assert spans == [
        StateSpan("database", "closed", 0.0, 10.0),
        StateSpan("weather", "closed", 0.0, 2.0),
        StateSpan("weather", "open", 2.0, 4.0),
        StateSpan("weather", "half_open", 4.0, 5.0),
        StateSpan("weather", "closed", 5.0, 10.0),
    ]


def test_breaker_that_starts_in_another_state_is_drawn_in_it_until_its_first_transition() -> None:
    breaker = pd.DataFrame(
        {
            "t": [T0 + 3.0],
            "server": ["fs"],
            "from_state": ["forced_open"],
            "to_state": ["closed"],
            "reason": [""],
        }
    )

    spans = state_spans(breaker, ["fs"], T0, 0.0, 5.0)

    assert [(span.state, span.start_s, span.end_s) for span in spans] == [
        ("forced_open", 0.0, 3.0),
        ("closed", 3.0, 5.0),
    ]


def test_gauges_are_numeric_sample_columns_other_than_the_base_ones_and_counters() -> None:
    samples = pd.DataFrame(
        {
            "t": [T0],
            "process": ["gateway"],
            "pid": [1],
            "cpu_percent": [3.0],
            "rss_bytes": [10],
            "agent_in_progress": [2.0],
            "agent_requests_total": [40.0],
            "pool_sessions_open": [1],
            "never_set": [None],
            "label": ["x"],
            "locust_users": [100],  # the Locust processes' own rows: drawn in the sessions chart
            "sessions_in_flight": [90],
            "target_users": [100],
            "stage": [2],
            "server_up": [1],
            "reconnects": [3],
            "pool_waiters": [0],
        }
    )

    assert gauge_columns(samples) == ["agent_in_progress", "pool_sessions_open", "pool_waiters"]

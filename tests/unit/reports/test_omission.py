"""Coordinated omission: from t_intended in open-model runs, by expected interval in closed-model runs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.hdr import UNIT_S, HdrHistogram
from reports.omission import correct_for_coordinated_omission, expected_interval_s, expected_interval_values
from reports.percentiles import summarize_latency

T0 = 1_700_000_000.0


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    if "t_intended" not in frame:
        frame["t_intended"] = frame["t_start"]
    frame["outcome"] = frame.get("outcome", "ok")
    return frame


def closed_model_stall(
    interval_us: int, base_us: int, stall_us: int, count: int, stall_at: int
) -> pd.DataFrame:
    """One user pacing a request every ``interval_us`` (base latency + think), one request stalling."""
    rows = []
    t = T0
    for index in range(count):
        latency = stall_us if index == stall_at else base_us
        rows.append({"t_start": t, "latency_s": latency * UNIT_S, "session_id": "s1"})
        t += (
            latency + interval_us - base_us
        ) * UNIT_S  # the user thinks for interval - base after each answer
    return _frame(rows)


def hdrhistogram_record_with_expected_interval(value: int, interval: int) -> list[int]:
    """HdrHistogram's recordValueWithExpectedInterval, as its Java source reads, as a plain loop."""
    recorded = [value]
    missing = value - interval
    while missing >= interval:
        recorded.append(missing)
        missing -= interval
    return recorded


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=1_000, max_value=200_000),
    st.integers(min_value=1, max_value=900),
    st.integers(min_value=1, max_value=60),
    st.integers(min_value=0, max_value=39),
)
def test_closed_model_correction_reproduces_the_expected_distribution_on_a_stall(
    interval_us: int, base_permille: int, stall_intervals: int, stall_at: int
) -> None:
    base_us = max(1, interval_us * base_permille // 1000)
    stall_us = stall_intervals * interval_us + base_us
    requests = closed_model_stall(interval_us, base_us, stall_us, count=40, stall_at=stall_at)

    correction = correct_for_coordinated_omission(requests)

    raw = [base_us] * 39 + [stall_us]
    # What a tester that kept sending every interval would have seen: the stalled request, and
    # every request due during the stall waiting for its end (those that would wait at least one interval).
    expected = [v for value in raw for v in hdrhistogram_record_with_expected_interval(value, interval_us)]
    assert correction.model == "closed"
    assert correction.expected_interval_s is not None
    assert round(correction.expected_interval_s / UNIT_S) == interval_us
    assert correction.synthetic_count == len(expected) - len(raw) == max(0, stall_intervals - 1)
    assert correction.summary == summarize_latency(np.array(expected, dtype=float) * UNIT_S)
    assert np.array_equal(
        correction.histogram.counts, HdrHistogram.from_seconds(np.array(expected) * UNIT_S).counts
    )


def test_a_one_second_stall_at_ten_millisecond_pacing_adds_the_ninety_nine_omitted_requests() -> None:
    requests = closed_model_stall(10_000, 1_000, 1_000_000, count=200, stall_at=50)

    correction = correct_for_coordinated_omission(requests)

    assert correction.synthetic_count == 99  # 990 ms, 980 ms, ..., 10 ms
    assert correction.summary["count"] == 299
    raw = summarize_latency(requests["latency_s"].to_numpy())
    assert raw["p90"] == 0.001 and raw["max"] == 1.0
    # 199 requests of 1 ms, then 10 ms ... 990 ms, then 1 s: p90 is the 270th of 299, p99 the 297th.
    assert correction.summary["p50"] == 0.001
    assert correction.summary["p90"] == pytest.approx(0.71)
    assert correction.summary["p99"] == pytest.approx(0.98)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=400_000),
)
def test_expected_interval_values_are_hdrhistograms_loop(values: list[int], interval: int) -> None:
    ours = expected_interval_values(np.array(values, dtype=np.int64), interval)

    theirs = [v for value in values for v in hdrhistogram_record_with_expected_interval(value, interval)[1:]]

    assert sorted(ours.tolist()) == sorted(theirs)


def test_beyond_the_exact_limit_the_histogram_gives_the_same_counts() -> None:
    requests = closed_model_stall(1_000, 500, 5_000_000, count=100, stall_at=10)

    exact = correct_for_coordinated_omission(requests)
    chunked = correct_for_coordinated_omission(requests, max_exact_values=0)

    assert exact.exact and not chunked.exact
    assert np.array_equal(exact.histogram.counts, chunked.histogram.counts)
    assert chunked.summary["count"] == exact.summary["count"]
    for key in ("p50", "p90", "p99", "max"):
        assert abs(chunked.summary[key] - exact.summary[key]) <= exact.summary[key] * 2**-10 + UNIT_S  # type: ignore[operator]


def test_open_model_correction_measures_from_the_intended_start() -> None:
    # Requests due every 10 ms; the server stalls 1 s on the 11th and the generator falls behind.
    rows = []
    free_at = T0
    for index in range(200):
        intended = T0 + index * 0.01
        start = max(intended, free_at)
        latency = 1.0 if index == 10 else 0.002
        rows.append(
            {"t_start": start, "t_intended": intended, "latency_s": latency, "session_id": f"s{index}"}
        )
        free_at = start + latency
    requests = _frame(rows)

    correction = correct_for_coordinated_omission(requests)

    truth = (requests["t_start"] + requests["latency_s"] - requests["t_intended"]).to_numpy()
    assert correction.model == "open"
    assert correction.summary == pytest.approx(
        summarize_latency(truth), abs=1e-6
    )  # epoch seconds: 0.2 µs steps
    assert correction.summary["p50"] > summarize_latency(requests["latency_s"].to_numpy())["p50"]  # type: ignore[operator]


def test_dropped_requests_stay_out_and_one_request_sessions_give_no_interval() -> None:
    requests = _frame(
        [
            {"t_start": T0, "latency_s": 0.5, "session_id": "a"},
            {"t_start": T0 + 1, "latency_s": None, "session_id": "b", "outcome": "dropped"},
        ]
    )
    requests.loc[1, "outcome"] = "dropped"

    correction = correct_for_coordinated_omission(requests)

    assert expected_interval_s(requests) is None
    assert correction.synthetic_count == 0
    assert correction.summary == summarize_latency([0.5])
    assert correction.method.startswith("none")


def test_no_requests_means_no_correction() -> None:
    requests = _frame([{"t_start": T0, "latency_s": None, "session_id": "a", "outcome": "dropped"}])
    requests["outcome"] = "dropped"

    correction = correct_for_coordinated_omission(requests)

    assert correction.model == "none" and correction.summary["count"] == 0


def test_arrivals_that_never_started_stay_out_of_the_corrected_figures() -> None:
    served = [
        {
            "t_start": T0 + i + 0.05,
            "t_intended": T0 + i,
            "latency_s": 0.1,
            "session_id": f"s{i}",
            "outcome": "ok",
        }
        for i in range(20)
    ]
    # Open model: an arrival that found every slot busy is one dropped row, latency 0, dropped long after
    # it was meant to start. Counting it would add a 0 s raw latency and a 30 s corrected one.
    not_started = [
        {
            "t_start": T0 + 40,
            "t_intended": T0 + 10,
            "latency_s": 0.0,
            "session_id": f"x{i}",
            "outcome": "dropped",
        }
        for i in range(5)
    ]

    alone = correct_for_coordinated_omission(_frame(served))
    mixed = correct_for_coordinated_omission(_frame(served + not_started))

    assert mixed.model == "open"
    assert mixed.summary == alone.summary
    assert mixed.summary["count"] == 20
    assert mixed.summary["max"] == pytest.approx(0.15)

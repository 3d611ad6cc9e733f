"""Nearest-rank percentiles: the documented definition, as properties and against numpy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reports import percentile, summarize_latency

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
samples = st.lists(finite, min_size=1, max_size=200)
percents = st.one_of(
    st.integers(min_value=1, max_value=100),
    st.floats(min_value=0.0, max_value=100.0, exclude_min=True, allow_nan=False),
)


def _exact(p: float) -> Fraction:
    """p at its decimal value (how the definition reads it: 0.07 is seven hundredths, not 0.07000000000000000666)."""
    return Fraction(str(p))


@given(samples, percents)
def test_percentile_is_an_element_of_the_input(values: list[float], p: float) -> None:
    assert percentile(sorted(values), p) in values


@given(samples, percents)
def test_at_least_p_percent_of_values_are_at_or_below_the_percentile(values: list[float], p: float) -> None:
    result = percentile(sorted(values), p)

    at_or_below = sum(1 for value in values if value <= result)
    assert at_or_below * 100 >= _exact(p) * len(values)


@given(samples, percents)
def test_fewer_than_p_percent_of_values_are_below_the_percentile(values: list[float], p: float) -> None:
    result = percentile(sorted(values), p)

    below = sum(1 for value in values if value < result)
    assert below * 100 < _exact(p) * len(values)


@given(samples, percents, percents)
def test_percentile_is_monotone_in_p(values: list[float], p: float, q: float) -> None:
    ordered = sorted(values)
    low, high = sorted((p, q))

    assert percentile(ordered, low) <= percentile(ordered, high)


@given(samples, st.integers(min_value=1, max_value=10_000))
def test_percentile_matches_numpy_inverted_cdf_away_from_exact_rank_boundaries(
    values: list[float], hundredths: int
) -> None:
    # At exact boundaries (p/100 * n an integer) numpy's float arithmetic can overshoot by one
    # rank; see test_exact_rank_boundary_follows_the_documented_definition.
    assume(hundredths * len(values) % 10_000 != 0)
    p = hundredths / 100

    expected = float(np.percentile(np.array(values), p, method="inverted_cdf"))

    assert percentile(sorted(values), p) == expected


def test_exact_rank_boundary_follows_the_documented_definition() -> None:
    values = list(range(1, 101))

    assert percentile(values, 7) == 7  # ceil(0.07 * 100) = 7; a float ceil would give 8
    assert percentile(values, 95) == 95
    assert percentile(values, 100) == 100
    assert percentile([0.5], 0.001) == 0.5


def test_p999_of_a_thousand_values_is_the_999th() -> None:
    assert percentile(list(range(1, 1001)), 99.9) == 999


@pytest.mark.parametrize("p", [0, -1, 100.0001, math.nan, math.inf])
def test_percentile_rejects_p_outside_zero_to_one_hundred(p: float) -> None:
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        percentile([1.0, 2.0], p)


def test_percentile_of_nothing_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_summary_has_count_mean_min_percentiles_and_max() -> None:
    summary = summarize_latency([0.4, 0.1, 0.3, 0.2])

    assert summary == {
        "count": 4,
        "mean": pytest.approx(0.25),
        "min": 0.1,
        "p50": 0.2,
        "p90": 0.4,
        "p95": 0.4,
        "p99": 0.4,
        "max": 0.4,
    }


def test_summary_of_nothing_keeps_its_keys_with_none() -> None:
    summary = summarize_latency([])

    assert summary["count"] == 0
    assert set(summary) == {"count", "mean", "min", "p50", "p90", "p95", "p99", "max"}
    assert all(value is None for key, value in summary.items() if key != "count")


def test_summary_refuses_nan_rather_than_hiding_it() -> None:
    with pytest.raises(ValueError, match="finite"):
        summarize_latency(np.array([0.1, np.nan]))


@given(st.lists(st.floats(min_value=0, max_value=100, allow_nan=False), min_size=1, max_size=100))
def test_summary_percentiles_are_ordered(values: list[float]) -> None:
    summary = summarize_latency(values)

    figures = [summary[key] for key in ("min", "p50", "p90", "p95", "p99", "max")]
    assert figures == sorted(figures)  # type: ignore[type-var]


def test_percentile_of_a_series_reads_by_position_not_label() -> None:
    series = pd.Series([0.1, 0.2, 0.3], index=[2, 1, 0])

    assert percentile(series, 100) == 0.3

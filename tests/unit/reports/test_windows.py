"""Percentiles per group and per time window: one sort, the same figures as sorting each group."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reports.percentiles import nearest_rank, percentile
from reports.windows import choose_window_s, grouped_percentiles, windowed_percentiles

values = st.floats(min_value=0.0, max_value=100.0, allow_nan=False, allow_infinity=False)
groups_and_values = st.lists(
    st.tuples(st.integers(min_value=-3, max_value=5), values), min_size=1, max_size=200
)
ps = st.lists(st.floats(min_value=0.1, max_value=100.0, allow_nan=False), min_size=1, max_size=4)


@settings(deadline=None)
@given(groups_and_values, ps)
def test_grouped_percentiles_equal_the_percentile_of_each_group_sorted_alone(
    pairs: list[tuple[int, float]], chosen: list[float]
) -> None:
    groups = np.array([g for g, _ in pairs])
    data = np.array([v for _, v in pairs])

    ids, counts, table, minima, maxima = grouped_percentiles(groups, data, chosen)

    assert ids.tolist() == sorted(set(groups.tolist()))
    for row, group in enumerate(ids.tolist()):
        alone = np.sort(data[groups == group])
        assert counts[row] == alone.size
        assert table[row].tolist() == [percentile(alone, p) for p in chosen]
        assert (minima[row], maxima[row]) == (alone[0], alone[-1])


@settings(deadline=None)
@given(groups_and_values, st.floats(min_value=0.1, max_value=100.0, allow_nan=False))
def test_grouped_percentiles_equal_numpys_inverted_cdf_for_the_same_definition(
    pairs: list[tuple[int, float]], p: float
) -> None:
    groups = np.array([g for g, _ in pairs])
    data = np.array([v for _, v in pairs])
    ids, _counts, table, _minima, _maxima = grouped_percentiles(groups, data, [p])

    for row, group in enumerate(ids.tolist()):
        alone = data[groups == group]
        # numpy's float rank can overshoot by one at exact boundaries (see reports.percentiles)
        assume(math.ceil(p / 100 * alone.size) == nearest_rank(alone.size, p))
        assert table[row, 0] == np.percentile(alone, p, method="inverted_cdf")


def test_a_percentile_with_many_decimals_gets_its_exact_rank_without_overflow() -> None:
    # Fraction("0.41710745173700103") has a denominator of 10**17: times 100 it overflows int64.
    p = 0.41710745173700103
    data = np.arange(1000, dtype=np.float64)

    _ids, _counts, table, _minima, _maxima = grouped_percentiles(np.zeros(1000, dtype=np.int64), data, [p])

    assert table[0, 0] == percentile(data, p) == data[nearest_rank(1000, p) - 1] == 4.0


@settings(deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=60.0, allow_nan=False), values), min_size=1, max_size=200
    ),
    st.sampled_from([0.5, 1.0, 5.0, 10.0]),
)
def test_windowed_percentiles_equal_filtering_and_sorting_each_window(
    rows: list[tuple[float, float]], width: float
) -> None:
    t0 = 1_700_000_000.0
    times = np.array([t0 + t for t, _ in rows])
    data = np.array([v for _, v in rows])

    windows = windowed_percentiles(times, data, t0, width)

    assert sum(w["count"] for w in windows) == len(rows)
    for window in windows:
        inside = np.sort(data[np.floor((times - t0) / width) == window["t_rel_s"] / width])
        assert inside.size == window["count"]
        assert [window[k] for k in ("p50", "p90", "p95", "p99", "max")] == [
            *(percentile(inside, p) for p in (50, 90, 95, 99)),
            inside[-1],
        ]


def test_windows_are_half_open() -> None:
    windows = windowed_percentiles([10.0, 11.0, 11.999, 12.0], [1.0, 2.0, 3.0, 4.0], t0=10.0, window_s=1.0)

    assert [(w["t_rel_s"], w["count"], w["max"]) for w in windows] == [
        (0.0, 1, 1.0),
        (1.0, 2, 3.0),
        (2.0, 1, 4.0),
    ]


def test_fractional_percentiles_get_their_own_keys() -> None:
    windows = windowed_percentiles(np.zeros(1000), np.arange(1000.0), 0.0, 1.0, ps=[99.9])

    assert windows[0]["p99.9"] == 998.0


@pytest.mark.parametrize(
    ("duration_s", "expected"),
    [(None, 1.0), (30.0, 1.0), (61.0, 2.0), (600.0, 10.0), (3600.0, 60.0), (1e9, 3600.0)],
)
def test_window_width_gives_at_most_sixty_windows(duration_s: float | None, expected: float) -> None:
    assert choose_window_s(duration_s) == expected


def test_bad_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        grouped_percentiles([1, 2], [1.0])
    with pytest.raises(ValueError, match="window_s"):
        windowed_percentiles([1.0], [1.0], 0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        grouped_percentiles([1], [float("inf")])

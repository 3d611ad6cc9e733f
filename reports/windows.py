"""Exact percentiles per group and per time window, with one sort for all of them.

The seeds answered "p95 of the requests between a and b" by filtering and sorting
for every query. Here the values are sorted once by ``(group, value)`` and each
group's percentiles are read by position: the nearest rank ``ceil(p/100 * n)``
of a group of ``n`` values is computed for every group at once with exact integer
arithmetic (``p`` as a fraction, as :func:`reports.percentiles.nearest_rank`
does), so the figures are exactly those of :func:`reports.percentiles.percentile`
on each group, at the cost of one ``lexsort`` for all groups.

A time window ``k`` holds the values whose time ``t`` has
``floor((t - t0) / window_s) == k``: windows are half-open ``[t0 + k·w, t0 + (k+1)·w)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
import numpy.typing as npt

from reports.percentiles import SUMMARY_PERCENTILES

__all__ = ["NICE_WINDOWS_S", "choose_window_s", "grouped_percentiles", "windowed_percentiles"]

NICE_WINDOWS_S: tuple[float, ...] = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
"""Window widths a report may pick, in seconds."""

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def choose_window_s(duration_s: float | None, max_windows: int = 60) -> float:
    """The smallest nice window width giving at most ``max_windows`` windows over ``duration_s``."""
    if duration_s is None or not math.isfinite(duration_s) or duration_s <= 0:
        return NICE_WINDOWS_S[0]
    for width in NICE_WINDOWS_S:
        if duration_s / width <= max_windows:
            return float(width)
    return float(NICE_WINDOWS_S[-1])


def grouped_percentiles(
    groups: npt.ArrayLike, values: npt.ArrayLike, ps: Sequence[float] = SUMMARY_PERCENTILES
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """Exact nearest-rank percentiles of ``values`` within each integer group.

    Returns ``(group_ids, counts, percentiles, minima, maxima)``: the distinct groups in
    ascending order, how many values each has, a ``(groups, len(ps))`` array of
    percentiles, and each group's minimum and maximum.

    Raises:
        ValueError: the arrays differ in length, a value is not finite, or a ``p`` is
            not in (0, 100].
    """
    group_array = np.asarray(groups, dtype=np.int64)
    value_array = np.asarray(values, dtype=np.float64)
    if group_array.shape != value_array.shape:
        raise ValueError(f"groups and values differ in length: {group_array.size} != {value_array.size}")
    if value_array.size and not bool(np.isfinite(value_array).all()):
        raise ValueError("values must be finite numbers; drop missing ones first")
    fractions = [_fraction(p) for p in ps]
    order = np.lexsort((value_array, group_array))
    sorted_groups = group_array[order]
    sorted_values = value_array[order]
    if sorted_values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, len(fractions))), np.zeros(0), np.zeros(0)
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    counts = np.diff(np.r_[starts, sorted_groups.size]).astype(np.int64)
    result = np.empty((starts.size, len(fractions)), dtype=np.float64)
    for column, fraction in enumerate(fractions):
        ranks = _nearest_ranks(fraction, counts)
        result[:, column] = sorted_values[starts + ranks - 1]
    minima = sorted_values[starts]
    maxima = sorted_values[starts + counts - 1]
    return sorted_groups[starts], counts, result, minima, maxima


def windowed_percentiles(
    t: npt.ArrayLike,
    values: npt.ArrayLike,
    t0: float,
    window_s: float,
    ps: Sequence[float] = SUMMARY_PERCENTILES,
) -> list[dict[str, Any]]:
    """Per time window (see the module docstring): ``t_rel_s`` (window start - t0), count, percentiles, max.

    Only windows holding at least one value are listed, in time order. Keys are
    ``p50``-style (``p99.9`` for fractional percentiles).

    Raises:
        ValueError: ``window_s`` is not positive, the arrays differ in length, or a
            time or value is not finite.
    """
    if not window_s > 0:
        raise ValueError(f"window_s must be > 0, got {window_s}")
    times = np.asarray(t, dtype=np.float64)
    if times.size and not bool(np.isfinite(times).all()):
        raise ValueError("times must be finite numbers; drop missing ones first")
    windows = np.floor((times - t0) / window_s).astype(np.int64)
    ids, counts, table, _minima, maxima = grouped_percentiles(windows, values, ps)
    keys = [f"p{p:g}" for p in ps]
    rows: list[dict[str, Any]] = []
    for index, window in enumerate(ids.tolist()):
        row: dict[str, Any] = {"t_rel_s": window * window_s, "count": int(counts[index])}
        row.update({key: float(table[index, column]) for column, key in enumerate(keys)})
        row["max"] = float(maxima[index])
        rows.append(row)
    return rows


_INT64_SAFE = 2**62


def _nearest_ranks(fraction: Fraction, counts: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """``max(1, ceil(p/100 * n))`` for every group's ``n``, exactly.

    Vectorised in int64 when ``numerator * n`` and ``denominator * 100`` fit; a ``p``
    with many decimals (``0.41710745173700103``) does not, and is done in Python ints.
    """
    denominator = fraction.denominator * 100
    largest = int(counts.max()) if counts.size else 0
    if denominator < _INT64_SAFE and fraction.numerator * largest < _INT64_SAFE:
        ranks = -((-fraction.numerator * counts) // denominator)
        return np.maximum(ranks, 1)
    exact = [max(1, -(-fraction.numerator * int(n) // denominator)) for n in counts.tolist()]
    return np.asarray(exact, dtype=np.int64)


def _fraction(p: float) -> Fraction:
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating) or not 0 < p <= 100:
        raise ValueError(f"percentile p must be a number in (0, 100], got {p!r}")
    return Fraction(str(p)) if isinstance(p, float | np.floating) else Fraction(int(p))

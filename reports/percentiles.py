"""Nearest-rank percentiles and latency summaries.

The definition is the one in ``docs/architecture.md``: for sorted values
``x[1..n]`` and ``p`` in (0, 100], the p-th percentile is ``x[ceil(p/100 * n)]``,
the smallest value with at least p% of the values at or below it. It never
interpolates, so every figure in a report is a latency some request really had.

The rank is computed with exact rational arithmetic on the decimal value of
``p`` (``Fraction(str(p))``). Floating point would overshoot at exact
boundaries: ``0.07 * 100`` is ``7.000000000000001``, so a float ceil picks the
8th of 100 values for p7 where the definition asks for the 7th.
``numpy.percentile(..., method="inverted_cdf")`` implements the same definition
and has exactly that float artefact at those boundaries; elsewhere the two agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SUMMARY_PERCENTILES", "LatencySummary", "nearest_rank", "percentile", "summarize_latency"]

SortedValues: TypeAlias = "Sequence[float] | npt.NDArray[np.floating[Any]] | pd.Series[float]"
LatencySummary: TypeAlias = dict[str, float | int | None]

SUMMARY_PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
"""Percentiles reported by :func:`summarize_latency`, as ``p50`` ... ``p99`` keys."""


def nearest_rank(n: int, p: float) -> int:
    """Return the 1-based nearest rank ``ceil(p/100 * n)`` for ``n`` values.

    Raises:
        ValueError: ``n`` is not positive, or ``p`` is not a finite number in (0, 100].
    """
    if n <= 0:
        raise ValueError(f"percentile of an empty sequence is undefined (n={n})")
    if isinstance(p, bool) or not isinstance(p, int | float | np.floating | np.integer):
        raise ValueError(f"percentile p must be a number in (0, 100], got {p!r}")
    if not 0 < p <= 100:  # also rejects NaN
        raise ValueError(f"percentile p must be in (0, 100], got {p!r}")
    exact = Fraction(str(p)) if isinstance(p, float | np.floating) else Fraction(int(p))
    numerator = exact.numerator * n
    denominator = exact.denominator * 100
    return max(1, -(-numerator // denominator))


def percentile(sorted_values: SortedValues, p: float) -> float:
    """Return the p-th nearest-rank percentile of already sorted values.

    ``sorted_values`` must be in ascending order; it is not re-sorted (callers
    summarising many percentiles sort once). A pandas Series is read by position,
    not by its index labels.

    Raises:
        ValueError: the sequence is empty, or ``p`` is not in (0, 100].
    """
    rank = nearest_rank(len(sorted_values), p)
    positional = getattr(sorted_values, "iloc", sorted_values)
    return float(positional[rank - 1])


def summarize_latency(values: Iterable[float] | npt.NDArray[np.floating[Any]]) -> LatencySummary:
    """Summarise latencies (seconds) as count, mean, min, p50, p90, p95, p99 and max.

    An empty input gives ``count`` 0 and ``None`` for every other figure, so a
    summary always has the same keys whether or not there was data.

    Raises:
        ValueError: a value is NaN or infinite (callers drop missing latencies first,
            so that a summary never silently hides them).
    """
    array = np.sort(np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=float))
    summary: LatencySummary = {"count": int(array.size)}
    if array.size == 0:
        summary.update({"mean": None, "min": None})
        summary.update({f"p{p}": None for p in SUMMARY_PERCENTILES})
        summary["max"] = None
        return summary
    if not bool(np.isfinite(array).all()):
        raise ValueError("latency values must be finite numbers; drop missing ones before summarising")
    summary["mean"] = float(array.mean())
    summary["min"] = float(array[0])
    for p in SUMMARY_PERCENTILES:
        summary[f"p{p}"] = percentile(array, p)
    summary["max"] = float(array[-1])
    return summary


def is_finite_number(value: object) -> TypeGuard[float]:
    """Tell whether ``value`` is a real, finite number (not bool, None, NaN or inf).

    Python and numpy ints count too; they convert to ``float`` exactly enough for times.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(float(value))

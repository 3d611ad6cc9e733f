"""Latency corrected for coordinated omission, beside the raw figures.

A load generator that waits for each answer before sending the next request
(a closed model: Locust users) sends fewer requests while the system stalls, so
the stall is under-represented in the raw latencies: the requests that would
have met it were never sent. Two corrections, by the kind of run:

- **Open model** (requests have an intended start, ``t_intended``, that differs
  from ``t_start`` when the generator fell behind): the corrected latency of a
  request is ``t_start + latency_s - t_intended``, from when it *should* have been
  sent. This is exact, request by request.
- **Closed model** (``t_intended == t_start`` everywhere): HdrHistogram's
  expected-interval correction (``recordValueWithExpectedInterval``). With ``I`` the
  expected interval between two requests of one session, a latency ``v`` is
  recorded together with ``v - I, v - 2I, ...`` while those are ``>= I``: the
  latencies the requests the session did not send during the stall would have
  had. ``I`` is the median gap between consecutive request starts of the same
  session (think time plus a normal answer); sessions with one request give none.
  The arithmetic is HdrHistogram's, in whole microseconds.

Requests that were ``dropped`` (cut short) have no latency and stay out, as in
the raw figures. When the closed-model correction would add more than
``max_exact_values`` synthetic values, the corrected figures come from the
HDR histogram (accurate to 3 significant digits) rather than from the values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.hdr import UNIT_S, HdrHistogram, to_units
from reports.percentiles import LatencySummary, summarize_latency

__all__ = [
    "OPEN_MODEL_THRESHOLD_S",
    "OmissionCorrection",
    "correct_for_coordinated_omission",
    "expected_interval_s",
    "expected_interval_values",
]

OPEN_MODEL_THRESHOLD_S = 1e-6
"""A run is open-model when some request started later than intended by more than this."""

_CHUNK = 5_000_000

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass
class OmissionCorrection:
    """The corrected latency distribution of a run and how it was obtained.

    ``model`` is ``open``, ``closed`` or ``none`` (no requests, or no usable interval:
    the corrected figures are then the raw ones); ``method`` says which correction
    ran; ``synthetic_count`` is how many values the closed-model correction added.
    """

    model: str
    method: str
    expected_interval_s: float | None
    synthetic_count: int
    summary: LatencySummary
    histogram: HdrHistogram = field(repr=False)
    exact: bool = True

    def to_dict(self) -> dict[str, Any]:
        """The description of the correction for ``summary.json`` (figures live beside the raw ones)."""
        return {
            "model": self.model,
            "method": self.method,
            "expected_interval_s": self.expected_interval_s,
            "synthetic_count": self.synthetic_count,
            "exact": self.exact,
        }


def correct_for_coordinated_omission(
    requests: pd.DataFrame, max_exact_values: int = 20_000_000
) -> OmissionCorrection:
    """Correct the non-dropped requests' latencies (see the module docstring)."""
    done = requests.loc[(requests["outcome"] != "dropped") & requests["latency_s"].notna()]
    latency = done["latency_s"].to_numpy(dtype=np.float64)
    start = done["t_start"].to_numpy(dtype=np.float64)
    intended = done["t_intended"].to_numpy(dtype=np.float64)
    intended = np.where(np.isfinite(intended), intended, start)
    late = start - intended
    if latency.size and bool((np.abs(late[np.isfinite(late)]) > OPEN_MODEL_THRESHOLD_S).any()):
        corrected = latency + np.where(np.isfinite(late), np.maximum(late, 0.0), 0.0)
        return OmissionCorrection(
            "open",
            "from t_intended: t_start + latency_s - t_intended",
            None,
            0,
            summarize_latency(corrected),
            HdrHistogram.from_seconds(corrected),
        )
    interval = expected_interval_s(done)
    if interval is None or latency.size == 0:
        return OmissionCorrection(
            "none" if latency.size == 0 else "closed",
            "none: no expected interval (no session made two requests)"
            if latency.size
            else "none: no requests",
            interval,
            0,
            summarize_latency(latency),
            HdrHistogram.from_seconds(latency),
        )
    units = to_units(latency)
    interval_units = max(1, round(interval / UNIT_S))
    extra = np.maximum(units // interval_units - 1, 0)
    synthetic_count = int(extra.sum())
    histogram = HdrHistogram.from_seconds(latency)
    method = (
        f"HdrHistogram expected-interval correction, interval {interval:.6g} s (median gap within sessions)"
    )
    if synthetic_count <= max_exact_values:
        synthetic = expected_interval_values(units, interval_units)
        histogram.record_units(synthetic)
        values = np.concatenate([latency, synthetic.astype(np.float64) * UNIT_S])
        return OmissionCorrection(
            "closed", method, interval, synthetic_count, summarize_latency(values), histogram
        )
    _record_in_chunks(histogram, units, extra, interval_units)
    return OmissionCorrection(
        "closed", method, interval, synthetic_count, histogram.summary(), histogram, exact=False
    )


def expected_interval_s(requests: pd.DataFrame) -> float | None:
    """Median gap between consecutive request starts of the same session, or ``None`` without any."""
    frame = requests.loc[requests["t_start"].notna(), ["session_id", "t_start"]]
    if len(frame) < 2:
        return None
    ordered = frame.sort_values(["session_id", "t_start"], kind="stable")
    sessions = ordered["session_id"].to_numpy()
    starts = ordered["t_start"].to_numpy(dtype=np.float64)
    same = sessions[1:] == sessions[:-1]
    gaps = (starts[1:] - starts[:-1])[same]
    gaps = gaps[gaps > 0]
    if gaps.size == 0:
        return None
    return float(np.median(gaps))


def expected_interval_values(units: IntArray, interval_units: int) -> IntArray:
    """The values HdrHistogram's ``recordValueWithExpectedInterval`` adds for each value (µs).

    For a value ``v`` and interval ``I``: ``v - I, v - 2I, ...`` while ``>= I``, that is
    ``v // I - 1`` values. The original values are not included.

    Raises:
        ValueError: ``interval_units`` is not positive.
    """
    if interval_units <= 0:
        raise ValueError(f"interval must be a positive number of units, got {interval_units}")
    values = np.asarray(units, dtype=np.int64)
    extra = np.maximum(values // interval_units - 1, 0)
    total = int(extra.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    owners = np.repeat(np.arange(values.size), extra)
    # k = 1..extra[i] within each owner's run
    firsts = np.cumsum(extra) - extra
    k = np.arange(total, dtype=np.int64) - np.repeat(firsts, extra) + 1
    result: IntArray = values[owners] - k * interval_units
    return result


def _record_in_chunks(histogram: HdrHistogram, units: IntArray, extra: IntArray, interval_units: int) -> None:
    """Record the synthetic values a few million at a time, so memory stays bounded."""
    huge = extra > _CHUNK
    for value in units[huge].tolist():  # one stall longer than _CHUNK intervals: its own progression
        count = value // interval_units - 1
        for k0 in range(1, count + 1, _CHUNK):
            k = np.arange(k0, min(k0 + _CHUNK, count + 1), dtype=np.int64)
            histogram.record_units(value - k * interval_units)
    order = np.argsort(np.where(huge, 0, extra))
    order = order[~huge[order]]
    cumulative = np.cumsum(extra[order])
    begin = 0
    while begin < order.size:
        base = int(cumulative[begin - 1]) if begin else 0
        end = max(int(np.searchsorted(cumulative, base + _CHUNK, side="right")), begin + 1)
        histogram.record_units(expected_interval_values(units[order[begin:end]], interval_units))
        begin = end

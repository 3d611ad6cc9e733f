"""The numbers behind the charts, computed from the event tables without drawing anything.

Every function here is pure: it takes frames and a time origin ``t0`` (epoch
seconds, the load start) and returns arrays or small records with times in
seconds relative to ``t0``. :mod:`reports.charts` only draws what these return,
so what a chart shows can be tested without looking at pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.percentiles import percentile

__all__ = [
    "BREAKER_STATES",
    "COUNTER_SUFFIX",
    "NOT_POOL_GAUGES",
    "FaultSpan",
    "StateSpan",
    "completed_requests",
    "counts_per_second",
    "fault_spans",
    "gauge_columns",
    "in_flight",
    "latency_windows",
    "state_spans",
]

FloatArray = npt.NDArray[np.float64]

BREAKER_STATES = ("closed", "half_open", "open", "forced_open", "disabled")
"""The breaker states the manager writes, in the order charts list them."""

COUNTER_SUFFIX = "_total"
"""Sample columns ending so are monotonic counters, not gauges (``agent_requests_total``)."""

_SAMPLE_BASE_COLUMNS = frozenset({"t", "process", "pid", "cpu_percent", "rss_bytes"})
NOT_POOL_GAUGES = frozenset(
    {"locust_users", "sessions_in_flight", "target_users", "stage", "server_up", "reconnects"}
)
"""Numeric sample columns that are not concurrency gauges: the Locust processes' own (drawn in the
sessions chart), stage indexes, up/down flags and counters without the ``_total`` suffix."""


@dataclass(frozen=True)
class FaultSpan:
    """One fault kind on one target, active from ``start_s`` to ``end_s`` (relative seconds)."""

    target: str
    kind: str
    start_s: float
    end_s: float


@dataclass(frozen=True)
class StateSpan:
    """One server's breaker in ``state`` from ``start_s`` to ``end_s`` (relative seconds)."""

    server: str
    state: str
    start_s: float
    end_s: float


def completed_requests(requests: pd.DataFrame) -> pd.DataFrame:
    """Requests that were not dropped and have both a start time and a latency."""
    frame = requests.loc[requests["outcome"] != "dropped"]
    return frame.dropna(subset=["t_start", "latency_s"])


def latency_windows(
    requests: pd.DataFrame, t0: float, percentiles: Iterable[float] = (50, 95, 99), window_s: float = 1.0
) -> pd.DataFrame:
    """Nearest-rank latency percentiles of completed requests per window of start time.

    Returns one row per window that has requests: ``start_s`` (window start,
    relative), ``count`` and one ``p<N>`` column per percentile. Windows without
    requests are absent (a chart should show a gap there, not a zero latency).
    """
    wanted = list(percentiles)
    columns = ["start_s", "count", *(f"p{_pct_name(p)}" for p in wanted)]
    frame = completed_requests(requests)
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in columns})
    window = np.floor((frame["t_start"].to_numpy(dtype=np.float64) - t0) / window_s)
    rows: list[dict[str, float]] = []
    latencies = frame["latency_s"].to_numpy(dtype=np.float64)
    for index in np.unique(window):
        values = np.sort(latencies[window == index])
        row = {"start_s": float(index) * window_s, "count": float(values.size)}
        row.update({f"p{_pct_name(p)}": percentile(values, p) for p in wanted})
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def counts_per_second(times_s: FloatArray, start_s: float, end_s: float) -> tuple[FloatArray, FloatArray]:
    """Count events per whole second from ``floor(start_s)`` to ``end_s``; empty seconds count 0.

    Returns ``(second_starts, counts)``. Events outside the range are ignored.
    """
    first = math.floor(start_s)
    last = max(first + 1, math.ceil(end_s))
    edges = np.arange(first, last + 1, dtype=np.float64)
    counts, _ = np.histogram(times_s, bins=edges)
    return edges[:-1], counts.astype(np.float64)


def in_flight(starts_s: FloatArray, ends_s: FloatArray, step_s: float = 0.1) -> tuple[FloatArray, FloatArray]:
    """How many intervals ``[start, end)`` are open at each tick of a ``step_s`` grid.

    Returns ``(ticks, counts)``; empty inputs give empty arrays.
    """
    if starts_s.size == 0:
        empty = np.array([], dtype=np.float64)
        return empty, empty
    begin = math.floor(float(starts_s.min()) / step_s) * step_s
    finish = float(ends_s.max())
    ticks = begin + step_s * np.arange(math.ceil((finish - begin) / step_s) + 1, dtype=np.float64)
    opened = np.searchsorted(np.sort(starts_s), ticks, side="right")
    closed = np.searchsorted(np.sort(ends_s), ticks, side="right")
    return ticks, (opened - closed).astype(np.float64)


def fault_spans(faults: pd.DataFrame, t0: float, open_end_s: float) -> list[FaultSpan]:
    """Fault windows per (target, kind), in time order, one span per window as applied.

    Each server process writes its own row for a window it applied, so a window
    whose server crashed and was restarted has many short rows (a ``crash`` row
    lasts an instant per instance): rows of the same ``window`` (key path in the
    fault file) become one span from the first start to the last end, and spans
    of one (target, kind) that overlap are merged. A row without an end (a
    process that never wrote it) runs to ``open_end_s``.
    """
    frame = faults.dropna(subset=["t_start"]).copy()
    frame["_window"] = frame["window"].fillna("").astype(str) if "window" in frame.columns else ""
    frame["_start"] = frame["t_start"].astype("float64") - t0
    frame["_end"] = frame["t_end"].astype("float64") - t0
    frame["_end"] = frame["_end"].where(frame["_end"].notna(), np.maximum(frame["_start"], open_end_s))
    spans: list[FaultSpan] = []
    for (target, kind), group in frame.groupby(["target", "kind"], sort=True, dropna=False):
        intervals: list[tuple[float, float]] = []
        for window, rows in group.groupby("_window", sort=False):
            if window:
                intervals.append((float(rows["_start"].min()), float(rows["_end"].max())))
            else:
                intervals += list(zip(rows["_start"].tolist(), rows["_end"].tolist(), strict=True))
        for start, end in _merge(sorted(intervals)):
            spans.append(FaultSpan(_name(target), _name(kind), start, end))
    return sorted(spans, key=lambda span: (span.start_s, span.target, span.kind))


def state_spans(
    breaker: pd.DataFrame, servers: Iterable[str], t0: float, start_s: float, end_s: float
) -> list[StateSpan]:
    """Each server's breaker state from ``start_s`` to ``end_s``, from its transitions.

    A breaker starts ``closed`` unless its first transition says it came from
    another state; a server without transitions is closed throughout.
    """
    spans: list[StateSpan] = []
    ordered = breaker.dropna(subset=["t"]).sort_values("t", kind="stable")
    for server in servers:
        rows = ordered.loc[ordered["server"] == server]
        times = (rows["t"].to_numpy(dtype=np.float64) - t0).tolist()
        to_states = [_name(state) for state in rows["to_state"].tolist()]
        first_from = _name(rows["from_state"].iloc[0]) if len(rows) else "closed"
        state, since = (first_from if first_from != "(none)" else "closed"), start_s
        for t, to_state in zip(times, to_states, strict=True):
            if t > since:
                spans.append(StateSpan(server, state, since, min(t, end_s)))
            state, since = to_state, max(since, t)
        if end_s > since:
            spans.append(StateSpan(server, state, since, end_s))
    return spans


def gauge_columns(samples: pd.DataFrame) -> list[str]:
    """Numeric sample columns that are gauges: not the base columns, not ``*_total`` counters,
    not :data:`NOT_POOL_GAUGES`."""
    return [
        str(name)
        for name in samples.columns
        if name not in _SAMPLE_BASE_COLUMNS
        and name not in NOT_POOL_GAUGES
        and not str(name).endswith(COUNTER_SUFFIX)
        and pd.api.types.is_numeric_dtype(samples[name])
        and not pd.api.types.is_bool_dtype(samples[name])
        and samples[name].notna().any()
    ]


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _name(value: Any) -> str:
    """A label for a value that may be missing (NA in a string column)."""
    return (
        "(none)"
        if value is None or value is pd.NA or (isinstance(value, float) and value != value)
        else str(value)
    )


def _pct_name(p: float) -> str:
    return str(int(p)) if float(p).is_integer() else str(p).replace(".", "_")

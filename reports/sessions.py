"""Sessions held: how many simulated sessions were in flight, second by second, from the Locust samples.

Every Locust process that runs users writes a ``samples`` row about once a
second (process ``locust-<worker>``) with ``locust_users`` (users alive) and
``sessions_in_flight`` (sessions active: closed model, users in a session; open
model, busy slots); the master, or the single local process, also writes
``target_users`` (the load shape's current target). From them:

- **per whole second** ``k`` (``[load start + k, load start + k + 1)``), the sum
  over Locust processes of each one's last value sampled before the second's end,
  if that sample is at most :data:`STALE_S` old (a process that stopped sampling
  counts 0 again). The master runs no users and is left out of the sum. The column
  is ``locust_users`` for the closed model (a user between sessions still holds its
  slot) and ``sessions_in_flight`` for the open model; each falls back on the other
  when a run has only one of them.
- **the held window** runs from the end of the ramp-up to the end of the load,
  never starting before the warm-up ends. The ramp-up ends at the first second
  whose sum reaches the peak (``LoadPlan.peak_sessions``: the largest stage, or the
  open model's ``max_sessions``); if the sum never does, at the planned ramp end
  (the first peak stage's start plus ``users / spawn_rate``; open model: the load
  start). The window ends at the planned end of the load (or the recorded one, if
  earlier), so the users' stop at the end is not counted. Only whole seconds
  inside the window count, and one without a fresh sample of any process counts 0.
- ``min_sessions`` / ``max_sessions`` over the held window are what the
  ``sessions_held`` SLA and the summary use.

Run directories written before these columns existed have none of them: the
figures are then ``None`` and say why (``detail``), and the SLA fails as "no data".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.load_plan import LoadPlan

__all__ = ["STALE_S", "SessionsHeld", "held_sessions", "session_column", "sessions_per_second"]

STALE_S = 2.5
"""A process's last sample counts for a second only if it is at most this old at the second's end."""

_COLUMNS = ("locust_users", "sessions_in_flight")
_EPSILON = 1e-9


@dataclass(frozen=True)
class SessionsHeld:
    """Sessions in flight over the held window (seconds from the load start; see the module docstring)."""

    column: str | None
    peak_target: int | None
    ramp_end_s: float | None
    ramp_end_source: str
    window_start_s: float | None
    window_end_s: float | None
    seconds: int
    min_sessions: float | None
    max_sessions: float | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """``summary.json``'s ``sessions`` block."""
        return {
            "column": self.column,
            "peak_target": self.peak_target,
            "ramp_end_s": self.ramp_end_s,
            "ramp_end_source": self.ramp_end_source,
            "window_start_s": self.window_start_s,
            "window_end_s": self.window_end_s,
            "seconds": self.seconds,
            "min_after_ramp_up": self.min_sessions,
            "max_after_ramp_up": self.max_sessions,
            "detail": self.detail,
        }


def session_column(samples: pd.DataFrame, plan: LoadPlan) -> str | None:
    """The samples column that counts sessions for this load model, or ``None`` when neither is there."""
    preferred = ("sessions_in_flight", "locust_users") if plan.is_open else _COLUMNS
    present = [c for c in preferred if c in samples.columns and samples[c].notna().any()]
    return present[0] if present else None


def sessions_per_second(samples: pd.DataFrame, origin: float, column: str) -> pd.DataFrame:
    """Per whole second from the load start: ``second`` (int), ``sessions`` (sum over Locust
    processes) and ``target_users`` (NaN where not sampled). Empty without rows of ``column``."""
    rows = _locust_rows(samples, column)
    rows = rows.loc[~rows["process"].astype(str).str.endswith("-master")]
    if rows.empty:
        return pd.DataFrame({"second": pd.Series(dtype="int64"), "sessions": [], "target_users": []})
    rel = rows["t"].to_numpy(dtype=np.float64) - origin
    seconds = np.arange(math.floor(float(rel.min())), math.floor(float(rel.max())) + 1, dtype=np.int64)
    total = np.zeros(seconds.size, dtype=np.float64)
    for _, group in rows.groupby("process", sort=True):
        total += np.nan_to_num(_last_per_second(group, column, origin, seconds), nan=0.0)
    targets = _locust_rows(samples, "target_users")
    target = np.full(seconds.size, np.nan)
    for _, group in targets.groupby("process", sort=True):
        target = np.fmax(target, _last_per_second(group, "target_users", origin, seconds))
    return pd.DataFrame({"second": seconds, "sessions": total, "target_users": target})


def held_sessions(
    samples: pd.DataFrame, plan: LoadPlan, origin: float | None, load_end_s: float | None
) -> SessionsHeld:
    """Sessions in flight from the end of the ramp-up to the end of the load (see the module docstring).

    ``origin`` is the load start (epoch s); ``load_end_s`` the load's length in seconds.
    """
    column = session_column(samples, plan)
    peak = plan.peak_sessions()
    if column is None or origin is None:
        why = (
            "no Locust session samples (sessions_in_flight / locust_users columns) in the samples table"
            if column is None
            else "no load start to count seconds from"
        )
        return SessionsHeld(column, peak, None, "none", None, None, 0, None, None, why)
    series = sessions_per_second(samples, origin, column)
    planned, measured = plan.total_duration_s(), load_end_s
    ends = [value for value in (planned, measured) if value is not None]
    end = min(ends) if ends else (float(series["second"].max()) + 1 if len(series) else 0.0)
    reached = series.loc[series["sessions"] >= peak, "second"] if peak is not None else pd.Series([])
    if len(reached):
        ramp_end, source = float(reached.iloc[0]), f"first second with {peak} sessions"
    else:
        planned = plan.planned_ramp_end_s()
        ramp_end = planned if planned is not None else 0.0
        source = (
            f"planned ramp end (never reached {peak} sessions)"
            if peak is not None
            else "load start (no peak known)"
        )
    start = max(ramp_end, plan.warmup_s)
    wanted = np.arange(math.ceil(start - _EPSILON), math.floor(end + _EPSILON), dtype=np.int64)
    if series.empty or not bool(np.isin(wanted, series["second"].to_numpy()).any()):
        wanted = wanted[:0]
    # A second inside the window without any fresh sample counts 0: no evidence of a session.
    inside = series.set_index("second")["sessions"].reindex(wanted, fill_value=0.0).reset_index()
    if inside.empty:
        return SessionsHeld(
            column,
            peak,
            ramp_end,
            source,
            start,
            end,
            0,
            None,
            None,
            f"no whole second of {column} samples between {start:.1f} s and {end:.1f} s from the load start",
        )
    low, high = float(inside["sessions"].min()), float(inside["sessions"].max())
    detail = (
        f"{column} summed over Locust processes: min {low:.0f}, max {high:.0f} over {len(inside)} s "
        f"from {start:.1f} s ({source}) to {end:.1f} s"
    )
    return SessionsHeld(column, peak, ramp_end, source, start, end, len(inside), low, high, detail)


def _locust_rows(samples: pd.DataFrame, column: str) -> pd.DataFrame:
    if column not in samples.columns:
        return samples.iloc[0:0][["t", "process"]].assign(**{column: pd.Series(dtype="float64")})
    chosen = samples.loc[
        samples["process"].astype(str).str.startswith("locust")
        & samples["t"].notna()
        & samples[column].notna(),
        ["t", "process", column],
    ]
    return chosen.assign(**{column: pd.to_numeric(chosen[column], errors="coerce")}).dropna(subset=[column])


def _last_per_second(
    group: pd.DataFrame, column: str, origin: float, seconds: np.ndarray[Any, np.dtype[np.int64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Each second's last value of one process (sampled before the second's end, at most STALE_S old)."""
    ordered = group.sort_values("t", kind="stable")
    times = ordered["t"].to_numpy(dtype=np.float64) - origin
    values = ordered[column].to_numpy(dtype=np.float64)
    ends = seconds.astype(np.float64) + 1.0
    index = np.searchsorted(times, ends, side="left") - 1  # last sample strictly before the second's end
    result = np.full(seconds.size, np.nan)
    valid = index >= 0
    fresh = valid.copy()
    fresh[valid] = ends[valid] - times[index[valid]] <= STALE_S
    result[fresh] = values[index[fresh]]
    return result

"""Fault windows and how the breaker of their target answered them.

A fault window is one ``faults`` window as applied: rows sharing ``(target,
window)`` (a crash loop writes one row per crashed process) make one window from
their first ``t_start`` to their last ``t_end``. A crash row ends when its process
died, so when the window is a scenario timeline entry (``window`` =
``timeline[i]``, the i-th timeline entry for that target) its declared end
(``at_s + for_s`` after the servers' ``--run-start``, else after the load start)
extends it.

For each window, about the target server's breaker:

- ``time_to_open_s``: from the window's start to the first move to ``open``
  within the window (0 if the breaker was already open or half-open at the
  start); ``None`` when it never opened during the window.
- ``time_to_close_s``: from the window's end to the first move to ``closed`` at
  or after it (0 if it was closed again by the end); ``None`` when it did not
  open during the window, or never closed again in the data.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.percentiles import is_finite_number

__all__ = ["FaultWindow", "fault_windows", "recovery_figures"]

_TIMELINE = re.compile(r"^timeline\[(\d+)\]$")
_OPENISH = frozenset({"open", "half_open", "forced_open"})


@dataclass
class FaultWindow:
    """One applied fault window and its breaker figures (times in epoch seconds)."""

    target: str
    kind: str
    window: str
    t_start: float
    t_end: float
    opened: bool = False
    t_open: float | None = None
    time_to_open_s: float | None = None
    t_closed: float | None = None
    time_to_close_s: float | None = None
    detail: str = ""

    def to_dict(self, t0: float | None) -> dict[str, Any]:
        data = asdict(self)
        data["t_start_rel_s"] = self.t_start - t0 if t0 is not None else None
        data["t_end_rel_s"] = self.t_end - t0 if t0 is not None else None
        return data


def fault_windows(
    faults: pd.DataFrame, scenario: Mapping[str, Any], run_info: Mapping[str, Any]
) -> list[FaultWindow]:
    """The run's fault windows, in time order (see the module docstring)."""
    if faults.empty:
        return []
    frame = faults.loc[faults["t_start"].notna()].copy()
    if "window" not in frame.columns:
        frame["window"] = [f"row[{i}]" for i in range(len(frame))]
    frame["window"] = frame["window"].fillna("").astype(str)
    frame["t_end"] = frame["t_end"].fillna(frame["t_start"])
    origin = _timeline_origin(run_info)
    declared = _declared_timeline(scenario)
    windows: list[FaultWindow] = []
    for (target, window, kind), group in frame.groupby(
        ["target", "window", "kind"], sort=False, dropna=False
    ):
        start = float(group["t_start"].min())
        end = float(group["t_end"].max())
        match = _TIMELINE.match(str(window))
        entries = declared.get(str(target), [])
        if match and origin is not None and int(match.group(1)) < len(entries):
            at_s, for_s = entries[int(match.group(1))]
            if for_s is not None:
                end = max(end, origin + at_s + for_s)
        windows.append(FaultWindow(str(target), str(kind), str(window), start, end))
    return sorted(windows, key=lambda w: (w.t_start, w.target))


def recovery_figures(
    windows: Sequence[FaultWindow], breaker: pd.DataFrame, tolerance_s: float
) -> list[FaultWindow]:
    """Fill in each window's breaker figures from its target's transitions (returns the same objects)."""
    for window in windows:
        rows = breaker.loc[(breaker["server"] == window.target) & breaker["t"].notna()].sort_values(
            "t", kind="stable"
        )
        times = rows["t"].to_numpy(dtype=np.float64)
        states = rows["to_state"].astype(str).to_numpy()
        _fill(window, times, states, tolerance_s)
    return list(windows)


def _state_at(times: np.ndarray[Any, Any], states: np.ndarray[Any, Any], t: float) -> str:
    index = int(np.searchsorted(times, t, side="right")) - 1
    return "closed" if index < 0 else str(states[index])


def _fill(window: FaultWindow, times: np.ndarray[Any, Any], states: np.ndarray[Any, Any], tol: float) -> None:
    at_start = _state_at(times, states, window.t_start - tol)
    inside = (times >= window.t_start - tol) & (times <= window.t_end + tol)
    opens = np.flatnonzero(inside & (states == "open"))
    if at_start in _OPENISH:
        window.opened, window.t_open, window.time_to_open_s = True, window.t_start, 0.0
    elif opens.size:
        window.opened = True
        window.t_open = float(times[opens[0]])
        window.time_to_open_s = max(0.0, window.t_open - window.t_start)
    if not window.opened:
        window.detail = "the breaker did not open during the window"
        return
    at_end = _state_at(times, states, window.t_end)
    if at_end == "closed":
        window.t_closed, window.time_to_close_s = window.t_end, 0.0
        window.detail = "closed again before the window ended"
        return
    closes = np.flatnonzero((times >= window.t_end) & (states == "closed"))
    if closes.size:
        window.t_closed = float(times[closes[0]])
        window.time_to_close_s = window.t_closed - window.t_end
        window.detail = "opened during the window, closed after it"
    else:
        window.detail = f"still {at_end} when the data ends"


def _timeline_origin(run_info: Mapping[str, Any]) -> float | None:
    """The servers' ``--run-start`` (timeline offsets count from it), else the load start."""
    for process in run_info.get("processes") or []:
        argv = process.get("argv") if isinstance(process, Mapping) else None
        if isinstance(argv, list) and "--run-start" in argv:
            index = argv.index("--run-start")
            try:
                return float(argv[index + 1])
            except (IndexError, TypeError, ValueError):
                continue
    start = run_info.get("load_t_start")
    return float(start) if is_finite_number(start) else None


def _declared_timeline(scenario: Mapping[str, Any]) -> dict[str, list[tuple[float, float | None]]]:
    """Each target's timeline entries ``(at_s, for_s)``, in the order its fault file lists them."""
    declared: dict[str, list[tuple[float, float | None]]] = {}
    for entry in scenario.get("faults") or []:
        if not isinstance(entry, Mapping):
            continue
        at_s, for_s = entry.get("at_s"), entry.get("for_s")
        if not is_finite_number(at_s):
            continue
        target = str(entry.get("target"))
        declared.setdefault(target, []).append(
            (float(at_s), float(for_s) if is_finite_number(for_s) else None)
        )
    return declared

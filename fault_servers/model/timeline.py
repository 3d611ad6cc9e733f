"""A fault plan placed on the wall clock: which faults are active when, and the windows as applied.

All times are Unix seconds. Timeline offsets count from `run_start` (the
``--run-start`` of every process in a run), so processes started at
different times, including a stdio server a pool respawns, agree on when a
window is open. Static faults are active from `installed_at` (the process
start, or the moment a live plan replaced the previous one) until the
process ends. Nothing here reads a clock: callers pass `now`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fault_servers.model.kinds import Fault, FlappingFault
from fault_servers.model.plan import FaultPlan, PlanEntry, fault_params


@dataclass(frozen=True)
class ActiveFault:
    """A fault active at some moment, with its key path and the origin of its flapping phases."""

    key_path: str
    fault: Fault
    anchor: float


@dataclass(frozen=True)
class AppliedWindow:
    """One fault window as it was applied in this process: a row of the ``faults`` table."""

    key_path: str
    kind: str
    params: dict[str, Any]
    t_start: float
    t_end: float


def flapping_down_for_s(fault: FlappingFault, anchor: float, now: float) -> float | None:
    """Seconds left in the down phase when `now` is in one, else None (up phases come first)."""
    cycle_s = fault.up_s + fault.down_s
    phase_s = (now - anchor) % cycle_s
    return cycle_s - phase_s if phase_s >= fault.up_s else None


class Schedule:
    """When each entry of `plan` is active, given the run start and when the plan was installed."""

    def __init__(self, plan: FaultPlan, run_start: float, installed_at: float) -> None:
        self.plan = plan
        self.run_start = run_start
        self.installed_at = installed_at
        self.entries: tuple[PlanEntry, ...] = tuple(plan.entries())

    def span(self, entry: PlanEntry) -> tuple[float, float]:
        """When `entry` is scheduled: static faults from installation, windows from the timeline."""
        if entry.window is None:
            return self.installed_at, math.inf
        return entry.window.span(self.run_start)

    def applied_span(self, entry: PlanEntry) -> tuple[float, float]:
        """The scheduled span clipped to this plan's installation (a window may have begun earlier)."""
        start, end = self.span(entry)
        return max(start, self.installed_at), end

    def anchor(self, entry: PlanEntry) -> float:
        """Origin of flapping phases: the window start, or the run start for a static fault."""
        return self.run_start if entry.window is None else self.span(entry)[0]

    def active(self, now: float) -> list[ActiveFault]:
        """The entries active at `now`, in draw order (static faults first, then the timeline)."""
        active: list[ActiveFault] = []
        for entry in self.entries:
            start, end = self.applied_span(entry)
            if start <= now < end:
                active.append(ActiveFault(entry.key_path, entry.fault, self.anchor(entry)))
        return active

    def next_boundary(self, now: float) -> float | None:
        """The first time after `now` when a window opens or closes; None when none is left."""
        times = [t for entry in self.entries for t in self.applied_span(entry) if now < t < math.inf]
        return min(times, default=None)


class WindowTracker:
    """Turns a schedule into applied windows, each reported exactly once.

    `sync` reports windows that have ended by `now`; `close_all` reports every
    window that had begun, ending it at `now` (the process stops or the plan is
    replaced). A window that never overlapped the plan's life is not reported.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._reported: set[str] = set()

    def sync(self, now: float) -> list[AppliedWindow]:
        """Windows that ended at or before `now` and were not reported yet."""
        rows: list[AppliedWindow] = []
        for entry in self.schedule.entries:
            if entry.key_path in self._reported:
                continue
            start, end = self.schedule.applied_span(entry)
            if end <= now:
                self._reported.add(entry.key_path)
                if start < end:
                    rows.append(self._row(entry, start, end))
        return rows

    def close_all(self, now: float) -> list[AppliedWindow]:
        """Every unreported window that had begun by `now`, ended at `now` (or at its own end)."""
        rows: list[AppliedWindow] = []
        for entry in self.schedule.entries:
            if entry.key_path in self._reported:
                continue
            start, end = self.schedule.applied_span(entry)
            if start <= now:
                self._reported.add(entry.key_path)
                if start <= min(end, now):
                    rows.append(self._row(entry, start, min(end, now)))
        return rows

    def open_windows(self, now: float) -> list[AppliedWindow]:
        """The windows active at `now`, with `t_end` their scheduled end (+inf when open-ended)."""
        rows: list[AppliedWindow] = []
        for entry in self.schedule.entries:
            start, end = self.schedule.applied_span(entry)
            if start <= now < end:
                rows.append(self._row(entry, start, end))
        return rows

    @staticmethod
    def _row(entry: PlanEntry, start: float, end: float) -> AppliedWindow:
        return AppliedWindow(entry.key_path, entry.fault.kind, fault_params(entry.fault), start, end)

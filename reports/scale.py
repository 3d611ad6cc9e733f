"""The load side of a run's analysis: warm-up, sessions held, load-generator saturation, capacity, open model.

:func:`analyse_load` reads the run once and gives everything the SLAs, the
verdict and ``summary.json`` need about the load itself:

- the warm-up cut and the **measured** requests every SLA and headline figure
  uses (:mod:`reports.warmup`);
- sessions held after the ramp-up (:mod:`reports.sessions`);
- the load generator's saturation over the measured window and the host's CPU
  (:mod:`reports.generator`); a saturated generator makes the run untrustworthy;
- the capacity search's steps, when the scenario ran one (:mod:`reports.capacity`);
- open-model arrivals: ``arrivals`` = sessions that started after the warm-up
  (distinct ``session_id`` whose first request started then) plus arrivals that
  could not start (``dropped`` rows with ``drop_reason`` ``not_started``, one per
  arrival); ``not_started_ratio`` = ``not_started / arrivals``.

In a capacity run the generator counts against the verdict only at or below the
capacity found (:attr:`reports.capacity.CapacityResult.trustworthy`); above it,
it is a warning that the capacity may be a lower bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from reports.capacity import CapacityResult, analyse_capacity
from reports.generator import GeneratorCheck, HostCpu, check_generator, host_cpu
from reports.load import RunData
from reports.load_plan import LoadPlan, load_plan
from reports.sessions import SessionsHeld, held_sessions
from reports.warmup import Warmup, load_end, load_start, split_warmup

__all__ = ["LoadAnalysis", "analyse_load", "open_model_figures"]


@dataclass(frozen=True, eq=False)
class LoadAnalysis:
    """What the analysis knows about the load of one run (see the module docstring)."""

    plan: LoadPlan
    origin: float | None
    end: float | None
    warmup: Warmup
    measured: pd.DataFrame
    sessions: SessionsHeld
    generator: GeneratorCheck
    host: HostCpu | None
    capacity: CapacityResult | None
    open_model: dict[str, Any] | None

    @property
    def window_start(self) -> float | None:
        """Where the measured window starts: the end of the warm-up (the load's start without one)."""
        return _measured_start(self.origin, self.warmup)

    @property
    def trustworthy(self) -> bool:
        """Whether the load generator kept up (in a capacity run: up to the capacity found)."""
        if self.capacity is not None:
            return self.capacity.trustworthy
        return not self.generator.saturated

    def verdict_failures(self) -> list[str]:
        """Why the load itself fails the run, most important first (untrustworthy, then no capacity)."""
        if self.capacity is not None:
            return self.capacity.reasons()
        if self.generator.saturated:
            return [
                f"untrustworthy: the load generator was saturated ({self.generator.detail}); "
                "add Locust workers (--workers N) or lower the load"
            ]
        return []

    def warnings(self) -> list[str]:
        """What the report should mention without failing the run."""
        warnings = [f"scenario.yaml: {problem}" for problem in self.plan.problems]
        host = self.host.warning() if self.host is not None else None
        if host:
            warnings.append(host)
        capacity = self.capacity
        if capacity is not None and capacity.trustworthy and capacity.saturated_index is not None:
            users = capacity.steps[capacity.saturated_index].users
            warnings.append(
                f"the load generator was saturated from {users} users, above the capacity found: the steps "
                "from there may have broken because of it, so the capacity is a lower bound"
            )
        return warnings

    def duration_s(self) -> float | None:
        """Seconds the headline figures cover: the load's length less the warm-up."""
        return _measured_seconds(self.origin, self.end, self.warmup)

    def blocks(self, t0: float | None) -> dict[str, Any]:
        """``summary.json``'s load blocks: ``warmup``, ``load_generator``, ``sessions``, ``capacity``, ``open_model``."""
        generator = self.generator.to_dict()
        generator["host"] = self.host.to_dict() if self.host is not None else None
        return {
            "warmup": self.warmup.to_dict(t0),
            "load_generator": generator,
            "sessions": self.sessions.to_dict(),
            "capacity": self.capacity.to_dict(t0) if self.capacity is not None else None,
            "open_model": self.open_model,
        }


def analyse_load(run: RunData) -> LoadAnalysis:
    """Analyse the load of a run (see the module docstring)."""
    plan = load_plan(run.scenario)
    origin = load_start(run)
    end = load_end(run)
    measured, warmup = split_warmup(run.requests, plan.warmup_s, origin)
    window_start = _measured_start(origin, warmup)
    sessions = held_sessions(
        run.samples, plan, origin, end - origin if end is not None and origin is not None else None
    )
    generator = check_generator(run.samples, window_start, end)
    host = host_cpu(run.samples, run.environment.get("cpu_count"), window_start, end)
    capacity = None
    if plan.capacity is not None and plan.stages and origin is not None:
        slas = run.scenario.get("slas")
        capacity = analyse_capacity(
            run.requests, run.samples, plan, slas if isinstance(slas, list) else [], origin, end
        )
    return LoadAnalysis(
        plan,
        origin,
        end,
        warmup,
        measured,
        sessions,
        generator,
        host,
        capacity,
        open_model_figures(run.requests, plan, window_start, _measured_seconds(origin, end, warmup)),
    )


def _measured_start(origin: float | None, warmup: Warmup) -> float | None:
    return warmup.t_end if warmup.t_end is not None else origin


def _measured_seconds(origin: float | None, end: float | None, warmup: Warmup) -> float | None:
    start = _measured_start(origin, warmup)
    if start is None or end is None:
        return None
    measured = end - start
    return measured if measured > 0 else None


def open_model_figures(
    requests: pd.DataFrame, plan: LoadPlan, since: float | None, duration_s: float | None
) -> dict[str, Any] | None:
    """Arrivals and arrivals that could not start, from ``since`` on (module docstring).

    ``None`` for a closed-model run without any ``not_started`` row.
    """
    has_reason = "drop_reason" in requests.columns
    dropped = requests["outcome"] == "dropped"
    if has_reason:
        not_started_rows = dropped & (requests["drop_reason"].astype(str) == "not_started")
    else:
        not_started_rows = pd.Series(False, index=requests.index)
    if not plan.is_open and not bool(not_started_rows.any()):
        return None
    after = requests["t_start"] >= since if since is not None else requests["t_start"].notna()
    not_started = int((not_started_rows & after).sum())
    sessions = requests.loc[~not_started_rows & requests["t_start"].notna(), ["session_id", "t_start"]]
    first = sessions.groupby("session_id", sort=False)["t_start"].min()
    started = int((first >= since).sum()) if since is not None else len(first)
    arrivals = started + not_started
    return {
        "arrivals": arrivals,
        "started_sessions": started,
        "not_started": not_started,
        "not_started_ratio": not_started / arrivals if arrivals else None,
        "arrival_rate_per_s": arrivals / duration_s if duration_s else None,
        "planned_arrival_rate_per_s": plan.arrival_rate_per_s,
        "max_sessions": plan.max_sessions,
        "drop_reason_recorded": has_reason,
    }

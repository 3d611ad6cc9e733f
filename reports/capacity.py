"""Capacity search: the SLAs step by step, the capacity, where it broke, and the knee.

A capacity search (``load.capacity``) plays closed-model steps of ``start_users``,
``start_users + step_users``, ... ``max_users`` users, each ``step_duration_s``
long. Step ``i`` starts at the load start plus ``i × step_duration_s`` and is
measured over ``[step start + settle_s, step end)`` (never before the warm-up ends,
never after the load ended), by request start:

- figures: requests started in the window, completed requests per second
  (``rps``: not ``dropped``, over the window's length), p50/p95/p99 of their
  latency, error rate ``(error + timeout) / (ok + error + timeout)``;
- the scenario's ``latency``, ``error_rate`` and ``availability`` SLAs
  (:data:`reports.sla.STEP_KINDS`) evaluated on the step's requests; the step
  **held** when all of them passed (a step without requests breaks them: no data);
- the load generator's saturation in the window (:mod:`reports.generator`).

Then:

- **capacity**: the last step before the first step that broke (every step up to it
  held); ``capacity_users`` and ``capacity_rps`` are its users and rps. When no
  step broke, it is the largest step played and the real capacity is higher.
  When the first step broke, there is none (``null``).
- **broke_at_users**: the first step that broke (``null`` when none did).
- **knee**: for consecutive steps ``a`` → ``b``, the cost of the step is the relative
  growth of p95 per relative growth of throughput,
  ``(p95_b / p95_a - 1) / max(rps_b / rps_a - 1, 0.01)`` (a throughput gain under 1%
  counts as 1%, so a step that adds no throughput but adds latency is expensive
  rather than infinite). Below the knee more users buy proportionally more
  throughput and latency stays flat (cost near 0); past it they buy queueing. The
  knee is step ``a`` of the costliest pair, provided its cost is above 1 (latency
  grew faster than throughput); otherwise there is no knee.

Verdict of a capacity run (``reports.summary``): the search is a measurement, so it
passes whenever it measured something trustworthy: FAIL only if the first step
already broke an SLA (no capacity), or if the load generator was saturated at or
below the capacity found (the capacity may be the generator's, not the system's).
The run's ``latency``/``error_rate``/``availability`` SLA results are those of the
capacity step (the first step when there is no capacity).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from reports.generator import GeneratorCheck, check_generator
from reports.load_plan import LoadPlan
from reports.percentiles import percentile
from reports.sla import STEP_KINDS, SlaResult, error_counts, evaluate_sla

__all__ = ["MIN_RPS_GAIN", "CapacityResult", "StepResult", "analyse_capacity", "knee_index"]

MIN_RPS_GAIN = 0.01
"""A relative throughput gain below this counts as this in the knee's cost (see the module docstring)."""


@dataclass(frozen=True)
class StepResult:
    """One step of the search, measured over ``[t_start, t_end)`` (epoch s)."""

    index: int
    users: int
    t_start: float
    t_end: float
    played: bool
    requests: int = 0
    completed: int = 0
    rps: float | None = None
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    error_rate: float | None = None
    held: bool | None = None
    slas: tuple[SlaResult, ...] = ()
    generator: GeneratorCheck = field(default_factory=lambda: GeneratorCheck(None))

    @property
    def failed_slas(self) -> list[str]:
        return [result.name for result in self.slas if not result.passed]

    def to_dict(self, t0: float | None) -> dict[str, Any]:
        return {
            "index": self.index,
            "users": self.users,
            "t_start": self.t_start,
            "t_end": self.t_end,
            "t_start_rel_s": self.t_start - t0 if t0 is not None else None,
            "t_end_rel_s": self.t_end - t0 if t0 is not None else None,
            "played": self.played,
            "requests": self.requests,
            "completed": self.completed,
            "rps": self.rps,
            "p50_s": self.p50_s,
            "p95_s": self.p95_s,
            "p99_s": self.p99_s,
            "error_rate": self.error_rate,
            "held": self.held,
            "failed_slas": self.failed_slas,
            "slas": [result.to_dict() for result in self.slas],
            "generator_saturated": self.generator.saturated,
        }


@dataclass(frozen=True)
class CapacityResult:
    """The search's outcome (see the module docstring for every definition)."""

    steps: tuple[StepResult, ...]
    capacity_index: int | None
    broke_index: int | None
    knee: int | None
    saturated_index: int | None
    slas_checked: int

    def _users(self, index: int | None) -> int | None:
        return self.steps[index].users if index is not None else None

    @property
    def capacity_users(self) -> int | None:
        return self._users(self.capacity_index)

    @property
    def first_played(self) -> int | None:
        """The first step that was measured (a warm-up longer than a step leaves the first unplayed)."""
        return next((step.index for step in self.steps if step.played), None)

    @property
    def first_step_broke(self) -> bool:
        return self.broke_index is not None and self.broke_index == self.first_played

    @property
    def trustworthy(self) -> bool:
        """False when the generator was saturated at or below the capacity (the first step when none)."""
        limit = self.capacity_index if self.capacity_index is not None else self.first_played
        return self.saturated_index is None or limit is None or self.saturated_index > limit

    def reasons(self) -> list[str]:
        """Why the search fails the run: untrustworthy first, then no capacity. Empty when it passes."""
        reasons = []
        if not self.trustworthy and self.saturated_index is not None:
            step = self.steps[self.saturated_index]
            where = (
                f"at or below the capacity found ({self.capacity_users} users)"
                if self.capacity_index is not None
                else "in the first step"
            )
            reasons.append(
                f"untrustworthy: the load generator was saturated at {step.users} users, {where} "
                f"({step.generator.detail}); add Locust workers (--workers N) or lower the load"
            )
        if self.first_step_broke and self.broke_index is not None:
            step = self.steps[self.broke_index]
            reasons.append(
                f"no capacity: the first step ({step.users} users) already broke "
                f"{', '.join(repr(name) for name in step.failed_slas)}"
            )
        elif self.first_played is None:
            reasons.append(
                "no capacity: no step of the search was measured (the load ended before the first step's "
                "settle time was over)"
            )
        return reasons

    def describe(self) -> str:
        """One sentence for the report: the capacity, where it broke and the knee."""
        if not any(step.played for step in self.steps):
            return "no step of the search was played"
        if self.capacity_index is None:  # with a played step, one broke: else the last played is the capacity
            users = self.steps[self.broke_index].users if self.broke_index is not None else "?"
            return f"no capacity: the first step ({users} users) already broke an SLA"
        step = self.steps[self.capacity_index]
        rps = f"{step.rps:.1f} req/s" if step.rps is not None else "n/a req/s"
        text = f"capacity {step.users} users ({rps})"
        if self.broke_index is not None:
            text += f"; the SLAs broke at {self.steps[self.broke_index].users} users"
        else:
            text += "; no step broke an SLA, so the capacity is at least this (raise max_users to find it)"
        if self.knee is not None:
            text += f"; knee at {self.steps[self.knee].users} users"
        if self.slas_checked == 0:
            text += "; the scenario has no latency, error_rate or availability SLA, so no step could break"
        return text

    def to_dict(self, t0: float | None) -> dict[str, Any]:
        """``summary.json``'s ``capacity`` block."""
        capacity = self.steps[self.capacity_index] if self.capacity_index is not None else None
        return {
            "steps": [step.to_dict(t0) for step in self.steps],
            "capacity_users": self.capacity_users,
            "capacity_rps": capacity.rps if capacity is not None else None,
            "broke_at_users": self._users(self.broke_index),
            "knee_users": self._users(self.knee),
            "generator_saturated_at_users": self._users(self.saturated_index),
            "trustworthy": self.trustworthy,
            "slas_checked_per_step": self.slas_checked,
            "detail": self.describe(),
            "knee_definition": "step a of the consecutive steps a -> b with the largest "
            f"(p95_b/p95_a - 1) / max(rps_b/rps_a - 1, {MIN_RPS_GAIN:g}), when that is above 1",
        }

    def run_results(self, results: Sequence[SlaResult], slas: Sequence[Any]) -> list[SlaResult]:
        """The run's SLA results with each step-kind SLA replaced by its result at the capacity step
        (the first played step when there is no capacity); other kinds are kept as they are."""
        index = self.capacity_index if self.capacity_index is not None else self.first_played
        if index is None:
            return list(results)
        step = self.steps[index]
        by_position = iter(step.slas)
        where = "at the capacity step" if index == self.capacity_index else "at the first step"
        replaced = []
        for sla, result in zip(slas, results, strict=True):
            if isinstance(sla, Mapping) and sla.get("kind") in STEP_KINDS:
                at_step = next(by_position)
                replaced.append(replace(at_step, detail=f"{where} ({step.users} users): {at_step.detail}"))
            else:
                replaced.append(result)
        return replaced


def analyse_capacity(
    requests: pd.DataFrame,
    samples: pd.DataFrame,
    plan: LoadPlan,
    slas: Sequence[Any],
    origin: float,
    load_end: float | None,
) -> CapacityResult:
    """Measure every step of the plan's capacity search (``plan.capacity`` must be set)."""
    assert plan.capacity is not None, "analyse_capacity needs a capacity plan"
    settle = plan.capacity.settle_s
    warm_end = origin + plan.warmup_s
    step_slas = [
        (position, sla)
        for position, sla in enumerate(slas)
        if isinstance(sla, Mapping) and sla.get("kind") in STEP_KINDS
    ]
    starts = requests["t_start"].to_numpy(dtype=np.float64)
    steps: list[StepResult] = []
    for stage in plan.stages:
        begin = max(origin + stage.start_s + settle, warm_end)
        end = origin + stage.end_s
        if load_end is not None:
            end = min(end, load_end)
        if end <= begin:
            steps.append(StepResult(stage.index, stage.users, begin, max(begin, end), played=False))
            continue
        chosen = requests.loc[(starts >= begin) & (starts < end)]
        steps.append(_measure(stage.index, stage.users, begin, end, chosen, samples, step_slas))
    played = [step for step in steps if step.played]
    broke = next((step.index for step in played if not step.held), None)
    if broke is None:
        capacity = played[-1].index if played else None
    else:
        capacity = max((step.index for step in played if step.index < broke), default=None)
    saturated = next((step.index for step in played if step.generator.saturated), None)
    return CapacityResult(tuple(steps), capacity, broke, knee_index(steps), saturated, len(step_slas))


def knee_index(steps: Sequence[StepResult]) -> int | None:
    """The knee (module docstring) over consecutive played steps with a p95 and a throughput."""
    best: tuple[float, int] | None = None
    for a, b in pairwise(steps):
        if not (a.played and b.played):
            continue
        if a.p95_s is None or b.p95_s is None or a.rps is None or b.rps is None:
            continue
        if a.p95_s <= 0 or a.rps <= 0:
            continue
        cost = (b.p95_s / a.p95_s - 1) / max(b.rps / a.rps - 1, MIN_RPS_GAIN)
        if cost > 1 and (best is None or cost > best[0]):
            best = (cost, a.index)
    return best[1] if best is not None else None


def _measure(
    index: int,
    users: int,
    begin: float,
    end: float,
    chosen: pd.DataFrame,
    samples: pd.DataFrame,
    step_slas: Sequence[tuple[int, Mapping[str, Any]]],
) -> StepResult:
    done = chosen.loc[(chosen["outcome"] != "dropped") & chosen["latency_s"].notna()]
    latency = np.sort(done["latency_s"].to_numpy(dtype=np.float64))
    counts = error_counts(chosen)
    counted = sum(counts.values())
    results = tuple(evaluate_sla(sla, chosen, position) for position, sla in step_slas)
    return StepResult(
        index,
        users,
        begin,
        end,
        played=True,
        requests=len(chosen),
        completed=int(latency.size),
        rps=latency.size / (end - begin),
        p50_s=percentile(latency, 50) if latency.size else None,
        p95_s=percentile(latency, 95) if latency.size else None,
        p99_s=percentile(latency, 99) if latency.size else None,
        error_rate=(counts["error"] + counts["timeout"]) / counted if counted else None,
        held=all(result.passed for result in results),
        slas=results,
        generator=check_generator(samples, begin, end),
    )

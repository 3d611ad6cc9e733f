"""The load a run was asked to play, re-derived from ``scenario.yaml`` (``reports`` imports no harness code).

``scenario.yaml`` is the resolved scenario (defaults filled), so its ``load``
section has every field :class:`harness.scenario.LoadConfig` has; this module
reads the few the analysis needs, the way ``LoadConfig.effective_stages()`` does:

- closed model: a capacity search (``capacity.enabled``) plays one stage per step,
  ``start_users`` to ``max_users`` by ``step_users``, each ``step_duration_s`` long;
  else ``stages``; else one stage of ``users`` for ``duration_s``. A stage without
  ``spawn_rate`` uses ``load.spawn_rate``. Stage ``i`` starts at the load start plus
  the durations of the stages before it.
- open model: no stages; ``open.arrival_rate_per_s`` and ``open.max_sessions``.
- ``warmup_s``: the first seconds of load that the SLAs and headline figures leave out.

An older or hand-written ``scenario.yaml`` may lack any of it: what cannot be read
is left out (no stages, warm-up 0) and said in ``problems``, never raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reports.percentiles import is_finite_number

__all__ = ["CapacityPlan", "LoadPlan", "PlannedStage", "load_plan"]

_DEFAULT_SPAWN_RATE = 10.0


@dataclass(frozen=True)
class PlannedStage:
    """One closed-model stage: ``users`` from ``start_s`` to ``start_s + duration_s`` (seconds from load start)."""

    index: int
    start_s: float
    duration_s: float
    users: int
    spawn_rate: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s


@dataclass(frozen=True)
class CapacityPlan:
    """A capacity search's timing: each step is measured from ``settle_s`` after its start to its end."""

    step_duration_s: float
    settle_s: float


@dataclass(frozen=True)
class LoadPlan:
    """What the scenario asked of the load generator (see the module docstring)."""

    model: str = "closed"
    stages: tuple[PlannedStage, ...] = ()
    warmup_s: float = 0.0
    capacity: CapacityPlan | None = None
    duration_s: float | None = None
    arrival_rate_per_s: float | None = None
    max_sessions: int | None = None
    problems: tuple[str, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.model == "open"

    def total_duration_s(self) -> float | None:
        """Seconds of load the scenario planned (the stages' sum, or the open model's ``duration_s``)."""
        if self.stages:
            return self.stages[-1].end_s
        return self.duration_s

    def peak_sessions(self) -> int | None:
        """The most sessions the load could hold: the largest stage, or the open model's bound."""
        if self.is_open:
            return self.max_sessions
        return max((stage.users for stage in self.stages), default=None)

    def planned_ramp_end_s(self) -> float | None:
        """When spawning should have reached the peak: the first peak stage's start plus the time its
        spawn rate needs from the previous stage's users (at most that stage's end). Open model: 0."""
        if self.is_open:
            return 0.0
        peak = self.peak_sessions()
        if peak is None:
            return None
        stage = next(s for s in self.stages if s.users == peak)
        before = self.stages[stage.index - 1].users if stage.index > 0 else 0
        return stage.start_s + min(stage.duration_s, abs(peak - before) / stage.spawn_rate)


def load_plan(scenario: Mapping[str, Any]) -> LoadPlan:
    """Read the load plan from a scenario mapping (``scenario.yaml``); never raises."""
    load = scenario.get("load")
    if not isinstance(load, Mapping):
        return LoadPlan(problems=("scenario.yaml has no load section: no stages or warm-up known",))
    problems: list[str] = []
    warmup = _number(load, "warmup_s", 0.0, problems)
    if warmup < 0:
        problems.append(f"load.warmup_s is negative ({warmup:g}); treated as 0")
        warmup = 0.0
    spawn_rate = _number(load, "spawn_rate", _DEFAULT_SPAWN_RATE, problems)
    model = str(load.get("model") or "closed")
    if model == "open":
        section = load.get("open")
        spec: Mapping[str, Any] = section if isinstance(section, Mapping) else {}
        rate = spec.get("arrival_rate_per_s")
        bound = spec.get("max_sessions")
        duration = load.get("duration_s")
        return LoadPlan(
            model="open",
            warmup_s=warmup,
            duration_s=float(duration) if is_finite_number(duration) else None,
            arrival_rate_per_s=float(rate) if is_finite_number(rate) else None,
            max_sessions=int(bound) if is_finite_number(bound) else None,
            problems=tuple(problems),
        )
    capacity = load.get("capacity")
    if isinstance(capacity, Mapping) and capacity.get("enabled", True):
        return _capacity_plan(capacity, warmup, spawn_rate, problems)
    stages = load.get("stages")
    raw: list[tuple[float, int, float]] = []
    if isinstance(stages, list) and stages:
        for index, stage in enumerate(stages):
            duration = stage.get("duration_s") if isinstance(stage, Mapping) else None
            users = stage.get("users") if isinstance(stage, Mapping) else None
            if not (is_finite_number(duration) and is_finite_number(users)):
                problems.append(f"load.stages[{index}] has no numeric duration_s and users; stages ignored")
                raw = []
                break
            rate = stage.get("spawn_rate")
            raw.append((float(duration), int(users), float(rate) if is_finite_number(rate) else spawn_rate))
    elif is_finite_number(load.get("users")) and is_finite_number(load.get("duration_s")):
        raw.append((float(load["duration_s"]), int(load["users"]), spawn_rate))
    return LoadPlan(model="closed", stages=_timed(raw), warmup_s=warmup, problems=tuple(problems))


def _capacity_plan(
    capacity: Mapping[str, Any], warmup: float, spawn_rate: float, problems: list[str]
) -> LoadPlan:
    start = _number(capacity, "start_users", 50, problems, "load.capacity.")
    step = _number(capacity, "step_users", 50, problems, "load.capacity.")
    top = _number(capacity, "max_users", 500, problems, "load.capacity.")
    duration = _number(capacity, "step_duration_s", 30.0, problems, "load.capacity.")
    settle = _number(capacity, "settle_s", 5.0, problems, "load.capacity.")
    rate = capacity.get("spawn_rate")
    rate_s = float(rate) if is_finite_number(rate) else spawn_rate
    if step < 1 or start < 1 or duration <= 0:
        problems.append("load.capacity: start_users, step_users and step_duration_s must be positive")
        return LoadPlan(model="closed", warmup_s=warmup, problems=tuple(problems))
    users = range(int(start), int(top) + 1, int(step))
    raw = [(duration, int(u), rate_s) for u in users]
    return LoadPlan(
        model="closed",
        stages=_timed(raw),
        warmup_s=warmup,
        capacity=CapacityPlan(duration, min(max(settle, 0.0), duration)),
        problems=tuple(problems),
    )


def _timed(raw: list[tuple[float, int, float]]) -> tuple[PlannedStage, ...]:
    stages, start = [], 0.0
    for index, (duration, users, rate) in enumerate(raw):
        stages.append(PlannedStage(index, start, duration, users, rate if rate > 0 else _DEFAULT_SPAWN_RATE))
        start += duration
    return tuple(stages)


def _number(
    section: Mapping[str, Any], key: str, default: float, problems: list[str], prefix: str = "load."
) -> float:
    value = section.get(key)
    if value is None:
        return float(default)
    if not is_finite_number(value):
        problems.append(f"{prefix}{key} is not a number ({value!r}); using {default:g}")
        return float(default)
    return float(value)

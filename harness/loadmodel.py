"""The load models as pure decisions: what Locust should do, given the scenario's load and a time.

Nothing here imports Locust or gevent, sleeps or reads a clock: the Locust side
(``scenarios/locust_agent.py``, ``scenarios/load_shapes.py``) asks and acts.

- **Closed model** (:func:`closed_tick`): the stages of
  :meth:`LoadConfig.effective_stages <harness.scenario.LoadConfig.effective_stages>` played one
  after another, as Locust's ``LoadTestShape.tick`` wants them: the target users and spawn
  rate of the stage ``elapsed_s`` falls in, or ``None`` once the last stage has ended (Locust
  then stops the test). A stage ``[start, end)`` owns its start and not its end.
- **Open model** (:func:`arrival_plan`, :func:`arrival_offsets`): sessions arrive at
  ``arrival_rate_per_s`` whatever the system's speed, the rate split evenly over the processes
  that run users. Poisson arrivals have exponential gaps; constant arrivals are evenly spaced,
  each process shifted by its index so the processes together are evenly spaced too. Every
  schedule is bounded (``duration_s`` and ``max_arrivals``) and a function of its seed.
  :class:`SlotBook` decides whether an arrival finds a free session slot.
- **Sessions** (:func:`plan_session`): a session type picked by weight, a number of turns
  from its range and the think time after each turn, from ``random.Random`` seeded by the
  run's seed, the worker's name and the session's number, so a session replays alike.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Literal

from harness.scenario import LoadConfig, SessionType, Stage, ThinkTime

__all__ = [
    "ArrivalPlan",
    "SessionPlan",
    "ShapeTick",
    "SlotBook",
    "arrival_offsets",
    "arrival_plan",
    "closed_tick",
    "open_slot_spawn_rate",
    "open_tick",
    "plan_session",
    "stage_ends",
    "think_time_s",
    "worker_index",
]

#: Open-model slots are spawned at least this fast (users/s), capped by :data:`MAX_SLOT_SPAWN_RATE`.
MAX_SLOT_SPAWN_RATE = 1000.0


@dataclass(frozen=True)
class ShapeTick:
    """What the load shape asks for now: ``users`` in total, started at ``spawn_rate`` per second.

    ``stage`` is the index of the closed-model stage, or -1 for the open model.
    """

    users: int
    spawn_rate: float
    stage: int

    def as_locust(self) -> tuple[int, float]:
        """The ``(user_count, spawn_rate)`` tuple ``LoadTestShape.tick`` returns."""
        return (self.users, self.spawn_rate)


def stage_ends(stages: Sequence[Stage]) -> list[float]:
    """Offsets (seconds from the shape's start) at which each stage ends."""
    return list(accumulate(s.duration_s for s in stages))


def closed_tick(stages: Sequence[Stage], elapsed_s: float) -> ShapeTick | None:
    """The stage ``elapsed_s`` falls in, or ``None`` once every stage has ended.

    Stages must have their ``spawn_rate`` filled (as ``effective_stages()`` returns them).
    Raises ``ValueError`` for a stage without one.
    """
    for index, (stage, end) in enumerate(zip(stages, stage_ends(stages), strict=True)):
        if elapsed_s < end:
            if stage.spawn_rate is None:
                raise ValueError(f"stage {index} has no spawn_rate; use LoadConfig.effective_stages()")
            return ShapeTick(stage.users, stage.spawn_rate, index)
    return None


def open_slot_spawn_rate(load: LoadConfig) -> float:
    """How fast the open model's session slots are spawned before arrivals start.

    At least ``load.spawn_rate``, and fast enough that up to :data:`MAX_SLOT_SPAWN_RATE`
    slots are all up within about a second: arrivals only start once they are.
    """
    assert load.open is not None, "open_slot_spawn_rate needs an open-model load"
    return max(load.spawn_rate, min(float(load.open.max_sessions), MAX_SLOT_SPAWN_RATE))


def open_tick(load: LoadConfig, arrivals_elapsed_s: float | None) -> ShapeTick | None:
    """The open model's shape: every slot (``max_sessions``) until ``duration_s`` of arrivals have passed.

    ``arrivals_elapsed_s`` is the time since arrivals started (``None`` while the slots are
    still being spawned and arrivals have not started yet).
    """
    assert load.open is not None and load.duration_s is not None, "open_tick needs an open-model load"
    if arrivals_elapsed_s is not None and arrivals_elapsed_s >= load.duration_s:
        return None
    return ShapeTick(load.open.max_sessions, open_slot_spawn_rate(load), -1)


def worker_index(worker: str) -> int:
    """The 0-based index of a worker named ``w1``, ``w2``, ...; 0 for ``local`` (or any other name)."""
    match = re.fullmatch(r"w(\d+)", worker)
    return max(int(match.group(1)) - 1, 0) if match else 0


@dataclass(frozen=True)
class ArrivalPlan:
    """One process's share of the open model's arrivals.

    Arrivals fall in ``[0, duration_s)``; there are at most ``max_arrivals`` of them.
    Constant arrivals are at ``(k + phase) / rate_per_s`` for ``k = 0, 1, ...``.
    """

    rate_per_s: float
    duration_s: float
    arrivals: Literal["poisson", "constant"]
    phase: float
    max_arrivals: int

    def __post_init__(self) -> None:
        if not self.rate_per_s > 0:
            raise ValueError(f"rate_per_s must be > 0, got {self.rate_per_s}")
        if not self.duration_s > 0:
            raise ValueError(f"duration_s must be > 0, got {self.duration_s}")
        if not 0 <= self.phase < 1:
            raise ValueError(f"phase must be in [0, 1), got {self.phase}")
        if self.max_arrivals < 0:
            raise ValueError(f"max_arrivals must be >= 0, got {self.max_arrivals}")


def arrival_plan(load: LoadConfig, processes: int, index: int) -> ArrivalPlan:
    """Process ``index``'s share (of ``processes`` running users) of ``load``'s open-model arrivals.

    The bound on Poisson arrivals is the mean plus ten standard deviations (plus 10): the
    schedule is finite, and the chance that it cuts a real Poisson draw short is below 1e-20.
    Raises ``ValueError`` when ``index`` is not in ``[0, processes)``.
    """
    if load.open is None or load.duration_s is None:
        raise ValueError("arrival_plan needs an open-model load (load.model open)")
    if processes < 1 or not 0 <= index < processes:
        raise ValueError(f"process index {index} is not in [0, {processes})")
    rate = load.open.arrival_rate_per_s / processes
    mean = rate * load.duration_s
    if load.open.arrivals == "constant":
        bound = math.ceil(mean) + 1
    else:
        bound = math.ceil(mean + 10 * math.sqrt(mean) + 10)
    return ArrivalPlan(rate, load.duration_s, load.open.arrivals, index / processes, bound)


def arrival_offsets(plan: ArrivalPlan, rng: random.Random) -> Iterator[float]:
    """Arrival times of ``plan`` in seconds from the start of arrivals, increasing, in ``[0, duration_s)``.

    Poisson gaps are drawn from ``rng`` (``expovariate``); constant arrivals draw nothing.
    """
    t = 0.0
    for k in range(plan.max_arrivals):
        if plan.arrivals == "constant":
            t = (k + plan.phase) / plan.rate_per_s
        else:
            t += rng.expovariate(plan.rate_per_s)
        if t >= plan.duration_s:
            return
        yield t


class SlotBook:
    """The open model's session slots in one process: how many exist, are busy, or are promised.

    An arrival is admitted (:meth:`offer`) only if a slot is free for it: slots minus the
    busy ones minus the arrivals already admitted and waiting for a slot to take them.
    Otherwise it is dropped (``not_started``).
    """

    def __init__(self) -> None:
        self.slots = 0
        self.busy = 0
        self.queued = 0

    @property
    def free(self) -> int:
        return self.slots - self.busy - self.queued

    def add_slot(self) -> None:
        self.slots += 1

    def remove_slot(self) -> None:
        """A slot stops; a busy slot must :meth:`release` first. Raises ``ValueError`` if none exists."""
        if self.slots <= 0:
            raise ValueError("no slot to remove")
        self.slots -= 1

    def offer(self) -> bool:
        """Admit an arrival if a slot is free for it (then it waits until one :meth:`take`\\ s it)."""
        if self.free <= 0:
            return False
        self.queued += 1
        return True

    def take(self) -> None:
        """A slot takes an admitted arrival and becomes busy. Raises ``ValueError`` if none waits."""
        if self.queued <= 0:
            raise ValueError("no admitted arrival to take")
        self.queued -= 1
        self.busy += 1

    def release(self) -> None:
        """A busy slot's session ended. Raises ``ValueError`` if no slot is busy."""
        if self.busy <= 0:
            raise ValueError("no busy slot to release")
        self.busy -= 1

    def abandon(self) -> None:
        """An admitted arrival will never be taken (the run ended). Raises ``ValueError`` if none waits."""
        if self.queued <= 0:
            raise ValueError("no admitted arrival to abandon")
        self.queued -= 1


def think_time_s(think: ThinkTime, rng: random.Random) -> float:
    """One think time, uniform in ``[think.min, think.max]``."""
    return rng.uniform(think.min, think.max)


@dataclass(frozen=True)
class SessionPlan:
    """One simulated conversation: its id, type, number of turns and the think time after each turn.

    The think time after the last turn is the pause before the user's next session (closed model).
    """

    number: int
    session_id: str
    session_type: SessionType
    turns: int
    think_s: tuple[float, ...]


def plan_session(load: LoadConfig, seed: int, worker: str, number: int) -> SessionPlan:
    """Session ``number`` of ``worker``: the same plan for the same seed, worker and number."""
    rng = random.Random(f"{seed}:{worker}:session:{number}")
    session_type = rng.choices(load.sessions, weights=[s.weight for s in load.sessions])[0]
    turns = rng.randint(session_type.turns.min, session_type.turns.max)
    think = tuple(think_time_s(load.think_time_s, rng) for _ in range(turns))
    return SessionPlan(number, f"{worker}-s{number}", session_type, turns, think)

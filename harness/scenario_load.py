"""The load a scenario plays (``load:``): closed-model stages or a capacity search, or an open model,
and the session mix. Re-exported by :mod:`harness.scenario`; docs/architecture.md, "Load models"."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.auth.settings import TokenKind

__all__ = ["CapacitySearch", "IntRange", "LoadConfig", "OpenModel", "SessionType", "Stage", "ThinkTime"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThinkTime(_Model):
    min: float = Field(default=0.5, ge=0)
    max: float = Field(default=1.5, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> ThinkTime:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class IntRange(_Model):
    """An inclusive range of whole numbers; one is drawn uniformly (seeded) when needed."""

    min: int = Field(ge=1)
    max: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class Stage(_Model):
    """One closed-model stage: move to ``users`` at ``spawn_rate`` users/s and hold until ``duration_s`` has passed.

    Stages run one after another (Locust's LoadTestShape); ramp, step, spike and soak are all stage lists.
    """

    duration_s: float = Field(gt=0)
    users: int = Field(ge=0, le=100_000)
    spawn_rate: float | None = Field(default=None, gt=0)  # default: load.spawn_rate


class SessionType(_Model):
    """One kind of simulated conversation in the session mix.

    A session is ``turns`` turns (drawn per session) with think time between them, then the
    simulated user starts a new session. ``role`` is who the session acts as (sent to the
    gateway); ``servers`` is its script: the servers whose tools its turns call (default all).
    With ``system.auth`` on, each session gets a token for ``role``: ``token`` says whether it is
    ``valid`` or which forgery it is (``harness.auth.session_tokens``; docs/security.md).
    """

    name: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]+$", max_length=40)
    weight: float = Field(default=1.0, gt=0)
    role: str = Field(default="user", pattern=r"^[A-Za-z0-9_.:-]+$", max_length=40)
    turns: IntRange = Field(default_factory=lambda: IntRange(min=10, max=10))
    servers: list[str] | None = Field(default=None, min_length=1)
    token: TokenKind = "valid"


class OpenModel(_Model):
    """Open model: sessions arrive at ``arrival_rate_per_s`` whatever the system's speed.

    At most ``max_sessions`` are in flight; an arrival that finds them all busy cannot start and
    is recorded as one ``dropped`` request (``t_intended`` = its arrival time).
    """

    arrival_rate_per_s: float = Field(gt=0, le=10_000)
    max_sessions: int = Field(ge=1, le=100_000)
    arrivals: Literal["poisson", "constant"] = "poisson"


class CapacitySearch(_Model):
    """Capacity search: closed-model steps from ``start_users`` by ``step_users`` up to ``max_users``.

    Each step holds for ``step_duration_s``; the report checks the SLAs per step (ignoring the
    first ``settle_s`` of each) and names the last step that held them: the capacity.
    """

    enabled: bool = True
    start_users: int = Field(default=50, ge=1, le=100_000)
    step_users: int = Field(default=50, ge=1, le=100_000)
    max_users: int = Field(default=500, ge=1, le=100_000)
    step_duration_s: float = Field(default=30.0, gt=0)
    settle_s: float = Field(default=5.0, ge=0)
    spawn_rate: float | None = Field(default=None, gt=0)  # default: load.spawn_rate

    @model_validator(mode="after")
    def _fits(self) -> CapacitySearch:
        if self.max_users < self.start_users:
            raise ValueError(f"max_users ({self.max_users}) must be >= start_users ({self.start_users})")
        if self.settle_s >= self.step_duration_s:
            raise ValueError(
                f"settle_s ({self.settle_s}) must be < step_duration_s ({self.step_duration_s}), "
                "or no part of a step is measured"
            )
        return self

    def steps(self) -> list[int]:
        """Users at each step, ``start_users`` up to ``max_users`` (inclusive)."""
        return list(range(self.start_users, self.max_users + 1, self.step_users))


class LoadConfig(_Model):
    """The load: a closed model (``users`` for ``duration_s``, or ``stages``, or a ``capacity`` search)
    or an open model (``open``: an arrival rate for ``duration_s``), and the session mix."""

    model: Literal["closed", "open"] = "closed"
    users: int | None = Field(default=None, ge=1, le=100_000)
    spawn_rate: float = Field(default=10.0, gt=0)
    duration_s: float | None = Field(default=None, gt=0)
    stages: list[Stage] = Field(default_factory=list)
    open: OpenModel | None = None
    capacity: CapacitySearch | None = None
    sessions: list[SessionType] = Field(default_factory=lambda: [SessionType()], min_length=1)
    think_time_s: ThinkTime = Field(default_factory=ThinkTime)
    warmup_s: float = Field(default=0.0, ge=0)  # the first seconds of load are left out of the SLAs
    request_timeout_s: float = Field(default=10.0, gt=0)
    stop_timeout_s: float = Field(default=5.0, ge=0)

    @model_validator(mode="after")
    def _one_shape(self) -> LoadConfig:
        searching = self.capacity is not None and self.capacity.enabled
        if self.model == "open":
            if self.open is None:
                raise ValueError("model open needs an open: {arrival_rate_per_s, max_sessions} section")
            if self.duration_s is None:
                raise ValueError("model open needs duration_s")
            if self.stages or searching:
                raise ValueError("model open takes no stages and no capacity search (those are closed-model)")
            return self
        if self.open is not None:
            raise ValueError("open: is only for model open (this load is closed)")
        shapes = [
            s
            for s, given in (("users", self.users), ("stages", self.stages), ("capacity", searching))
            if given
        ]
        if searching and self.stages:
            raise ValueError("give stages or a capacity search, not both")
        if self.stages and self.duration_s is not None:
            raise ValueError(
                "with stages, the duration is the sum of the stages' duration_s; drop duration_s"
            )
        if not shapes:
            raise ValueError("a closed load needs users and duration_s, stages, or a capacity search")
        if shapes == ["users"] and self.duration_s is None:
            raise ValueError("users needs duration_s")
        if self.warmup_s >= self.total_duration_s():
            raise ValueError(
                f"warmup_s ({self.warmup_s}) must be shorter than the load ({self.total_duration_s():g} s)"
            )
        return self

    def effective_stages(self) -> list[Stage]:
        """The closed-model stages actually played ([] for the open model)."""
        if self.model == "open":
            return []
        if self.capacity is not None and self.capacity.enabled:
            rate = self.capacity.spawn_rate or self.spawn_rate
            return [
                Stage(duration_s=self.capacity.step_duration_s, users=u, spawn_rate=rate)
                for u in self.capacity.steps()
            ]
        if self.stages:
            return [
                s if s.spawn_rate is not None else s.model_copy(update={"spawn_rate": self.spawn_rate})
                for s in self.stages
            ]
        assert self.users is not None and self.duration_s is not None
        return [Stage(duration_s=self.duration_s, users=self.users, spawn_rate=self.spawn_rate)]

    def total_duration_s(self) -> float:
        """Seconds of load, from the first user to the end of the last stage."""
        if self.model == "open":
            assert self.duration_s is not None
            return self.duration_s
        return sum(s.duration_s for s in self.effective_stages())

    def peak_sessions(self) -> int:
        """The most sessions in flight the load can have (users, or the open model's bound)."""
        if self.model == "open":
            assert self.open is not None
            return self.open.max_sessions
        return max((s.users for s in self.effective_stages()), default=0)

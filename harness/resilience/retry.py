"""Retry: a pure planner that decides, and an async runner that carries the decision out.

Like tenacity's ``iter()``: after a failed attempt, :meth:`RetryPlanner.decide`
answers :class:`RetryAfter` ("retry after N s") or :class:`Stop` ("stop:
reason"); :func:`run_with_retry` sleeps (an injected sleep) and tries again.
The planner's rules, in order:

1. an outcome outside ``retryable_outcomes`` stops (``not_retryable``);
2. after ``max_attempts`` attempts it stops (``attempts_exhausted``);
3. the delay is the jittered exponential backoff (:mod:`~harness.resilience.backoff`),
   raised to the server's Retry-After hint when one came with the failure;
4. if the next attempt could not start (plus ``min_attempt_s`` to do any work)
   before the caller's deadline, it stops (``deadline``): it never sleeps past it;
5. if the retry budget has no token left, it stops (``budget_exhausted``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

from harness.resilience.backoff import JITTERS, Jitter, backoff_s
from harness.resilience.budget import RatioBudget
from harness.resilience.outcomes import DEFAULT_RETRYABLE_OUTCOMES, outcome_of, retry_after_of
from harness.resilience.timeout import Sleep

__all__ = [
    "RetryAfter",
    "RetryConfig",
    "RetryDecision",
    "RetryPlanner",
    "RetryState",
    "Stop",
    "run_with_retry",
]

T = TypeVar("T")

StopCode = Literal["not_retryable", "attempts_exhausted", "deadline", "budget_exhausted"]


@dataclass(frozen=True, slots=True)
class RetryConfig:
    """Retry settings (units in the names). Raises ``ValueError`` when out of range."""

    max_attempts: int = 3
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    multiplier: float = 2.0
    jitter: Jitter = "full"
    retryable_outcomes: frozenset[str] = DEFAULT_RETRYABLE_OUTCOMES
    honour_retry_after: bool = True
    min_attempt_s: float = 0.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1 (1 = no retry), got {self.max_attempts}")
        if not self.base_delay_s >= 0:
            raise ValueError(f"base_delay_s must be >= 0, got {self.base_delay_s}")
        if not self.max_delay_s >= self.base_delay_s:
            raise ValueError(
                f"max_delay_s must be >= base_delay_s ({self.base_delay_s}), got {self.max_delay_s}"
            )
        if not self.multiplier >= 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if self.jitter not in JITTERS:
            raise ValueError(f"jitter must be one of {list(JITTERS)}, got {self.jitter!r}")
        if not self.min_attempt_s >= 0:
            raise ValueError(f"min_attempt_s must be >= 0, got {self.min_attempt_s}")

    @classmethod
    def from_retries(cls, retries: int, **kwargs: object) -> RetryConfig:
        """Build from the seeds' retry count (``WEATHER_SERVER_RETRIES=3`` means 4 attempts)."""
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        return cls(max_attempts=retries + 1, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class RetryAfter:
    """Retry: sleep ``delay_s`` seconds, then make attempt number ``attempt``."""

    delay_s: float
    attempt: int
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Do not retry; ``code`` names the rule that stopped it."""

    code: StopCode
    reason: str


RetryDecision = RetryAfter | Stop


@dataclass(slots=True)
class RetryState:
    """One call's progress: the planner reads it and advances it on every :class:`RetryAfter`."""

    deadline: float | None = None
    attempt: int = 1
    previous_delay_s: float = 0.0
    slept_s: float = 0.0


class RetryPlanner:
    """Decides whether and when to retry; ``rng`` draws the jitter, ``budget`` caps retries."""

    __slots__ = ("budget", "config", "rng")

    def __init__(
        self, config: RetryConfig | None = None, *, rng: random.Random, budget: RatioBudget | None = None
    ) -> None:
        self.config = config or RetryConfig()
        self.rng = rng
        self.budget = budget

    def start(self, now: float, deadline: float | None = None) -> RetryState:
        """Begin one call: counts it in the budget and returns its state (attempt 1)."""
        if self.budget is not None:
            self.budget.record_call(now)
        return RetryState(deadline=deadline, previous_delay_s=self.config.base_delay_s)

    def decide(
        self, state: RetryState, outcome: str, now: float, retry_after_s: float | None = None
    ) -> RetryDecision:
        """Rule on the attempt ``state.attempt`` that just ended with ``outcome`` at ``now``."""
        cfg = self.config
        if outcome not in cfg.retryable_outcomes:
            return Stop("not_retryable", f"{outcome} is not retryable")
        if state.attempt >= cfg.max_attempts:
            return Stop("attempts_exhausted", f"{state.attempt} of {cfg.max_attempts} attempts made")
        delay = backoff_s(
            cfg.jitter,
            state.attempt,
            state.previous_delay_s,
            cfg.base_delay_s,
            cfg.multiplier,
            cfg.max_delay_s,
            self.rng,
        )
        why = f"{outcome}; {cfg.jitter}-jitter backoff {delay:.3f}s"
        if cfg.honour_retry_after and retry_after_s is not None and retry_after_s > delay:
            delay = retry_after_s
            why = f"{outcome}; server asked to retry after {retry_after_s:g}s"
        if state.deadline is not None and now + delay + cfg.min_attempt_s >= state.deadline:
            return Stop(
                "deadline",
                f"next attempt could not start before the deadline: needs {delay:.3f}s"
                f" + {cfg.min_attempt_s:g}s, {max(0.0, state.deadline - now):.3f}s left",
            )
        if self.budget is not None and not self.budget.try_spend(now):
            return Stop(
                "budget_exhausted", f"retry budget exhausted ({self.budget.config.ratio:g} of recent calls)"
            )
        state.attempt += 1
        state.previous_delay_s = delay
        state.slept_s += delay
        return RetryAfter(delay, state.attempt, why)


async def run_with_retry(
    attempt: Callable[[int], Awaitable[T]],
    planner: RetryPlanner,
    *,
    deadline: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    classify: Callable[[BaseException], str] = outcome_of,
    retry_after: Callable[[BaseException], float | None] = retry_after_of,
    on_decision: Callable[[BaseException, RetryDecision], None] | None = None,
) -> T:
    """Call ``attempt(n)`` (n = 1, 2, ...) until it returns or the planner stops.

    Returns the first result. On a stop, re-raises the last attempt's exception
    with a note giving the stop reason. Cancellation is never retried.
    ``attempt`` should bound itself by the deadline
    (:func:`~harness.resilience.timeout.attempt_timeout_s`).
    """
    state = planner.start(clock(), deadline)
    while True:
        try:
            return await attempt(state.attempt)
        except Exception as exc:
            decision = planner.decide(state, classify(exc), clock(), retry_after(exc))
            if on_decision is not None:
                on_decision(exc, decision)
            if isinstance(decision, Stop):
                exc.add_note(f"retries stopped ({decision.code}): {decision.reason}")
                raise
        await sleep(decision.delay_s)

"""Retry planning and running: recorded sleeps, deadlines, Retry-After, the budget. Nothing sleeps."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from harness.resilience.budget import BudgetConfig, RatioBudget
from harness.resilience.retry import RetryAfter, RetryConfig, RetryPlanner, Stop, run_with_retry

from .fakes import FakeClock, RecordedSleeps


class Failure(Exception):
    def __init__(self, outcome: str, retry_after_s: float | None = None) -> None:
        super().__init__(outcome)
        self.outcome = outcome
        self.retry_after_s = retry_after_s


def planner(budget: RatioBudget | None = None, seed: int = 1, **kwargs: Any) -> RetryPlanner:
    return RetryPlanner(RetryConfig(**kwargs), rng=random.Random(seed), budget=budget)


def failing(outcomes: list[str], clock: FakeClock | None = None, took_s: float = 0.0, **extra: Any) -> Any:
    """An attempt function failing with ``outcomes`` in turn, then succeeding; records attempt numbers."""
    attempts: list[int] = []

    async def attempt(n: int) -> str:
        attempts.append(n)
        if clock is not None:
            clock.advance(took_s)
        if len(attempts) <= len(outcomes):
            raise Failure(outcomes[len(attempts) - 1], **extra)
        return f"ok on attempt {n}"

    attempt.attempts = attempts  # type: ignore[attr-defined]
    return attempt


async def test_returns_the_first_success_after_sleeping_the_backoff_sequence() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["timeout", "transport_error", "timeout"])
    p = planner(max_attempts=5, base_delay_s=0.1, multiplier=2.0, max_delay_s=0.3, jitter="none")
    result = await run_with_retry(attempt, p, sleep=sleeps, clock=FakeClock())
    assert result == "ok on attempt 4"
    assert attempt.attempts == [1, 2, 3, 4]
    assert sleeps.delays == pytest.approx([0.1, 0.2, 0.3])


async def test_full_jitter_sleeps_stay_within_the_exponential_bounds() -> None:
    sleeps = RecordedSleeps()
    p = planner(max_attempts=6, base_delay_s=0.1, max_delay_s=10.0, jitter="full", seed=42)
    await run_with_retry(failing(["timeout"] * 5), p, sleep=sleeps, clock=FakeClock())
    assert len(sleeps.delays) == 5
    for n, delay in enumerate(sleeps.delays, start=1):
        assert 0.0 <= delay <= 0.1 * 2 ** (n - 1)
    assert len(set(sleeps.delays)) == 5


async def test_decorrelated_jitter_sleeps_grow_from_the_previous_delay() -> None:
    sleeps = RecordedSleeps()
    p = planner(max_attempts=6, base_delay_s=0.1, max_delay_s=10.0, jitter="decorrelated", seed=3)
    await run_with_retry(failing(["timeout"] * 5), p, sleep=sleeps, clock=FakeClock())
    previous = 0.1
    for delay in sleeps.delays:
        assert 0.1 <= delay <= 3 * previous
        previous = delay


async def test_the_same_seed_sleeps_the_same_sequence() -> None:
    runs = []
    for _ in range(2):
        sleeps = RecordedSleeps()
        await run_with_retry(
            failing(["timeout"] * 4), planner(max_attempts=5, seed=9), sleep=sleeps, clock=FakeClock()
        )
        runs.append(sleeps.delays)
    assert runs[0] == runs[1]


async def test_stops_after_max_attempts_and_reraises_the_last_error_with_the_reason() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["timeout", "timeout", "transport_error", "timeout"])
    with pytest.raises(Failure, match="transport_error") as info:
        await run_with_retry(attempt, planner(max_attempts=3), sleep=sleeps, clock=FakeClock())
    assert attempt.attempts == [1, 2, 3] and len(sleeps.delays) == 2
    assert info.value.__notes__ == ["retries stopped (attempts_exhausted): 3 of 3 attempts made"]


async def test_does_not_retry_an_outcome_that_is_not_retryable() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["tool_error"])
    with pytest.raises(Failure):
        await run_with_retry(attempt, planner(max_attempts=5), sleep=sleeps, clock=FakeClock())
    assert attempt.attempts == [1] and sleeps.delays == []


async def test_never_sleeps_past_the_deadline_and_gives_up_when_the_next_attempt_cannot_start() -> None:
    clock = FakeClock(100.0)
    sleeps = RecordedSleeps(clock)
    attempt = failing(["timeout"] * 10, clock, took_s=0.3)
    p = planner(max_attempts=10, base_delay_s=0.2, max_delay_s=0.2, jitter="none")
    decisions: list[Any] = []
    with pytest.raises(Failure) as info:
        await run_with_retry(
            attempt,
            p,
            deadline=101.0,
            clock=clock,
            sleep=sleeps,
            on_decision=lambda _e, d: decisions.append(d),
        )
    # attempt 1 ends at 100.3, sleeps 0.2; attempt 2 ends at 100.8: a 0.2 s sleep would
    # start attempt 3 at 101.0, the deadline itself, so it is not made.
    assert attempt.attempts == [1, 2]
    assert sleeps.delays == [0.2] and clock.now <= 101.0
    assert isinstance(decisions[-1], Stop) and decisions[-1].code == "deadline"
    assert "deadline" in info.value.__notes__[0]


def test_min_attempt_time_stops_retries_that_would_have_no_time_to_work() -> None:
    p = planner(base_delay_s=0.1, jitter="none", min_attempt_s=0.5)
    assert isinstance(p.decide(p.start(0.0, deadline=0.65), "timeout", 0.0), RetryAfter)
    decision = p.decide(p.start(0.0, deadline=0.55), "timeout", 0.0)
    assert isinstance(decision, Stop) and decision.code == "deadline"


async def test_retry_after_raises_the_backoff() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["transport_error"], retry_after_s=2.5)
    await run_with_retry(attempt, planner(base_delay_s=0.1, jitter="none"), sleep=sleeps, clock=FakeClock())
    assert sleeps.delays == [2.5]


async def test_a_retry_after_shorter_than_the_backoff_keeps_the_backoff() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["transport_error"], retry_after_s=0.01)
    await run_with_retry(attempt, planner(base_delay_s=0.1, jitter="none"), sleep=sleeps, clock=FakeClock())
    assert sleeps.delays == [0.1]


async def test_a_retry_after_beyond_the_deadline_stops_instead_of_retrying_early() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["transport_error"], retry_after_s=30.0)
    with pytest.raises(Failure):
        await run_with_retry(attempt, planner(), deadline=10.0, sleep=sleeps, clock=FakeClock())
    assert sleeps.delays == []


async def test_retry_after_is_ignored_when_not_honoured() -> None:
    sleeps = RecordedSleeps()
    attempt = failing(["transport_error"], retry_after_s=2.5)
    p = planner(base_delay_s=0.1, jitter="none", honour_retry_after=False)
    await run_with_retry(attempt, p, sleep=sleeps, clock=FakeClock())
    assert sleeps.delays == [0.1]


async def test_the_retry_budget_caps_retries_at_a_share_of_recent_calls() -> None:
    budget = RatioBudget(BudgetConfig(ratio=0.2, min_per_s=0.0, window_s=10.0))
    p = planner(budget=budget, max_attempts=3)
    clock, sleeps = FakeClock(), RecordedSleeps()
    attempts = 0
    for _ in range(100):  # the server is down: every attempt fails
        attempt = failing(["transport_error"] * 3)
        with pytest.raises(Failure):
            await run_with_retry(attempt, p, sleep=sleeps, clock=clock)
        attempts += len(attempt.attempts)
    assert attempts - 100 <= 20  # without the budget: 300 attempts
    assert budget.spent == len(sleeps.delays) == attempts - 100


async def test_a_stop_for_the_budget_says_so() -> None:
    budget = RatioBudget(BudgetConfig(ratio=0.0, min_per_s=0.0))
    with pytest.raises(Failure) as info:
        await run_with_retry(
            failing(["timeout"]), planner(budget=budget), sleep=RecordedSleeps(), clock=FakeClock()
        )
    assert info.value.__notes__[0].startswith("retries stopped (budget_exhausted)")


async def test_cancellation_is_never_retried() -> None:
    calls = []

    async def attempt(n: int) -> None:
        calls.append(n)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await run_with_retry(attempt, planner(), sleep=RecordedSleeps(), clock=FakeClock())
    assert calls == [1]


def test_the_planner_answers_retry_after_n_seconds_or_stop_with_a_reason() -> None:
    p = planner(max_attempts=2, base_delay_s=0.5, jitter="none")
    state = p.start(0.0)
    first = p.decide(state, "timeout", 1.0)
    assert first == RetryAfter(0.5, 2, "timeout; none-jitter backoff 0.500s")
    assert p.decide(state, "timeout", 2.0) == Stop("attempts_exhausted", "2 of 2 attempts made")


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (2, 3), (3, 4)])
def test_the_seeds_retry_count_maps_to_one_more_attempt(retries: int, attempts: int) -> None:
    assert RetryConfig.from_retries(retries).max_attempts == attempts


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"base_delay_s": -1}, "base_delay_s"),
        ({"base_delay_s": 2.0, "max_delay_s": 1.0}, "max_delay_s"),
        ({"multiplier": 0.5}, "multiplier"),
        ({"jitter": "equal"}, "jitter"),
        ({"min_attempt_s": -1}, "min_attempt_s"),
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RetryConfig(**kwargs)

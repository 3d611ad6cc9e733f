"""Hedged requests with real tasks: the test decides when the hedge timer fires and who answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.resilience.budget import BudgetConfig, RatioBudget
from harness.resilience.hedging import HedgeConfig, HedgePolicy, hedged

from .fakes import FakeClock, ManualTimers, until


class Attempts:
    """Attempt ``i`` waits until the test answers or fails it; records starts and cancellations."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.outcomes: dict[int, asyncio.Future[str]] = {}

    async def __call__(self, i: int) -> str:
        self.started.append(i)
        fut = self.outcomes.setdefault(i, asyncio.get_running_loop().create_future())
        try:
            return await fut
        except asyncio.CancelledError:
            self.cancelled.append(i)
            raise

    def answer(self, i: int, value: str) -> None:
        self.outcomes[i].set_result(value)

    def fail(self, i: int, exc: Exception) -> None:
        self.outcomes[i].set_exception(exc)


def policy(**kwargs: Any) -> HedgePolicy:
    defaults: dict[str, Any] = {"delay_s": 0.2, "budget_ratio": 1.0}
    return HedgePolicy(HedgeConfig(**(defaults | kwargs)))


async def start(
    attempts: Attempts, p: HedgePolicy, timers: ManualTimers, clock: FakeClock | None = None
) -> Any:
    task = asyncio.create_task(hedged(attempts, p, sleep=timers, clock=clock or FakeClock()))
    await timers.started.wait()
    return task


async def test_no_hedge_when_the_primary_answers_before_the_delay() -> None:
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, policy(), timers)
        attempts.answer(0, "primary")
        assert await task == "primary"
    assert attempts.started == [0] and [t.delay_s for t in timers.timers] == [0.2]


async def test_a_slow_primary_is_hedged_and_the_loser_cancelled() -> None:
    attempts, timers = Attempts(), ManualTimers()
    hedges: list[float] = []
    async with asyncio.timeout(5):
        task = asyncio.create_task(
            hedged(attempts, policy(), sleep=timers, clock=FakeClock(), on_hedge=hedges.append)
        )
        await timers.started.wait()
        timers.timers[0].fire()
        await until(lambda: attempts.started == [0, 1])
        attempts.answer(1, "hedge")
        assert await task == "hedge"
    assert attempts.cancelled == [0] and hedges == [0.2]


async def test_the_primary_still_wins_if_it_answers_first_after_the_hedge_started() -> None:
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, policy(), timers)
        timers.timers[0].fire()
        await until(lambda: len(attempts.started) == 2)
        attempts.answer(0, "primary")
        assert await task == "primary"
    assert attempts.cancelled == [1]


async def test_a_failed_attempt_leaves_the_other_to_win() -> None:
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, policy(), timers)
        timers.timers[0].fire()
        await until(lambda: len(attempts.started) == 2)
        attempts.fail(1, ConnectionError("hedge refused"))
        await until(lambda: attempts.outcomes[1].done())
        attempts.answer(0, "primary")
        assert await task == "primary"


async def test_when_both_attempts_fail_the_primarys_error_is_raised() -> None:
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, policy(), timers)
        timers.timers[0].fire()
        await until(lambda: len(attempts.started) == 2)
        attempts.fail(1, ConnectionError("hedge refused"))
        attempts.fail(0, TimeoutError("primary timed out"))
        with pytest.raises(TimeoutError, match="primary timed out"):
            await task


class RecordingPolicy(HedgePolicy):
    """Remembers each budget ruling, so the test knows when the hedge decision was made."""

    def __init__(self, config: HedgeConfig) -> None:
        super().__init__(config)
        self.rulings: list[bool] = []

    def may_hedge(self, now: float) -> bool:
        self.rulings.append(super().may_hedge(now))
        return self.rulings[-1]


async def one_slow_call(p: RecordingPolicy, nth: int) -> int:
    """Play one call whose primary outlasts the hedge delay; return how many hedges it made."""
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, p, timers)
        timers.timers[0].fire()
        await until(lambda: len(p.rulings) == nth)
        await until(lambda: len(attempts.started) == (2 if p.rulings[-1] else 1))
        attempts.answer(0, "primary")
        await task
    return len(attempts.started) - 1


async def test_the_hedge_budget_limits_the_share_of_hedged_calls() -> None:
    p = RecordingPolicy(HedgeConfig(delay_s=0.2, budget_ratio=0.25, budget_min_per_s=0.0))
    hedged_calls = 0
    for i in range(20):
        hedged_calls += await one_slow_call(p, i + 1)
    assert hedged_calls == 5  # 25% of 20 calls
    assert p.rulings == [False, False, False, True] * 5


async def test_the_hedge_delay_follows_the_observed_p95_once_enough_samples_are_known() -> None:
    p = HedgePolicy(HedgeConfig(quantile=0.95, min_samples=20, initial_delay_s=1.0))
    assert p.delay_s() == 1.0
    for ms in range(1, 20):
        p.observe(ms / 1000)
    assert p.delay_s() == 1.0  # 19 samples: not enough yet
    p.observe(0.020)
    assert p.delay_s() == 0.019


async def test_the_winners_latency_feeds_the_estimator() -> None:
    clock = FakeClock()
    attempts, timers = Attempts(), ManualTimers()
    p = policy()
    async with asyncio.timeout(5):
        task = await start(attempts, p, timers, clock)
        clock.advance(0.05)
        attempts.answer(0, "primary")
        await task
    assert p.estimator.quantile(1.0) == 0.05


async def test_cancelling_the_caller_cancels_every_attempt() -> None:
    attempts, timers = Attempts(), ManualTimers()
    async with asyncio.timeout(5):
        task = await start(attempts, policy(), timers)
        timers.timers[0].fire()
        await until(lambda: len(attempts.started) == 2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert sorted(attempts.cancelled) == [0, 1]


def test_a_custom_budget_can_be_shared_between_policies() -> None:
    shared = RatioBudget(BudgetConfig(ratio=0.0, min_per_s=0.0))
    assert not HedgePolicy(HedgeConfig(delay_s=0.1), budget=shared).may_hedge(0.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"delay_s": -1.0}, "delay_s"),
        ({"quantile": 0.0}, "quantile"),
        ({"min_samples": 0}, "min_samples"),
        ({"latency_samples": 5, "min_samples": 10}, "latency_samples"),
        ({"budget_ratio": 1.5}, "budget_ratio"),
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HedgeConfig(**kwargs)

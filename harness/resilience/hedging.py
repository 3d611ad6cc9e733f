"""Hedged requests for idempotent tools: a second attempt if the first is slow.

The primary attempt starts at once. If it has not finished after the hedge
delay (a fixed ``delay_s``, or the observed ``quantile`` of recent latencies
once ``min_samples`` are known), and the hedge budget has a token, a second
attempt starts. The first attempt to *succeed* wins and the other is
cancelled; if one fails, the other may still win; if both fail, the primary's
error is raised. The hedge budget (:class:`~harness.resilience.budget.RatioBudget`)
caps hedges at ``budget_ratio`` of recent calls, so a slow server does not see
its load doubled.

:class:`HedgePolicy` decides (delay, budget, estimate); :func:`hedged` runs
the attempts with an injected sleep as the hedge timer. Only idempotent tools
may be hedged: both attempts can reach the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from harness.resilience.budget import BudgetConfig, RatioBudget
from harness.resilience.latency import LatencyEstimator
from harness.resilience.timeout import Sleep

__all__ = ["HedgeConfig", "HedgePolicy", "hedged"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class HedgeConfig:
    """Hedging settings. Raises ``ValueError`` when out of range."""

    delay_s: float | None = None
    quantile: float = 0.95
    min_samples: int = 20
    initial_delay_s: float = 1.0
    min_delay_s: float = 0.001
    latency_samples: int = 200
    budget_ratio: float = 0.1
    budget_min_per_s: float = 0.0
    budget_window_s: float = 10.0

    def __post_init__(self) -> None:
        if self.delay_s is not None and not self.delay_s >= 0:
            raise ValueError(f"delay_s must be >= 0 or None (use the observed quantile), got {self.delay_s}")
        if not 0 < self.quantile <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {self.quantile}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if not self.initial_delay_s >= 0:
            raise ValueError(f"initial_delay_s must be >= 0, got {self.initial_delay_s}")
        if not self.min_delay_s >= 0:
            raise ValueError(f"min_delay_s must be >= 0, got {self.min_delay_s}")
        if self.latency_samples < self.min_samples:
            raise ValueError(
                f"latency_samples must be >= min_samples ({self.min_samples}), got {self.latency_samples}"
            )
        if not 0 <= self.budget_ratio <= 1:
            raise ValueError(f"budget_ratio must be in [0, 1], got {self.budget_ratio}")

    def budget_config(self) -> BudgetConfig:
        return BudgetConfig(
            ratio=self.budget_ratio, min_per_s=self.budget_min_per_s, window_s=self.budget_window_s
        )


class HedgePolicy:
    """When to hedge and whether the budget allows it; learns from observed latencies."""

    __slots__ = ("budget", "config", "estimator")

    def __init__(
        self,
        config: HedgeConfig | None = None,
        *,
        estimator: LatencyEstimator | None = None,
        budget: RatioBudget | None = None,
    ) -> None:
        self.config = config or HedgeConfig()
        self.estimator = estimator or LatencyEstimator(self.config.latency_samples)
        self.budget = budget or RatioBudget(self.config.budget_config())

    def delay_s(self) -> float:
        """How long to wait for the primary before hedging."""
        cfg = self.config
        if cfg.delay_s is not None:
            return cfg.delay_s
        if self.estimator.count < cfg.min_samples:
            return cfg.initial_delay_s
        estimate = self.estimator.quantile(cfg.quantile)
        return cfg.initial_delay_s if estimate is None else max(cfg.min_delay_s, estimate)

    def record_call(self, now: float) -> None:
        self.budget.record_call(now)

    def may_hedge(self, now: float) -> bool:
        """Take a hedge token if the budget has one."""
        return self.budget.try_spend(now)

    def observe(self, latency_s: float) -> None:
        self.estimator.observe(latency_s)


async def hedged(
    attempt: Callable[[int], Awaitable[T]],
    policy: HedgePolicy,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    on_hedge: Callable[[float], None] | None = None,
) -> T:
    """Run ``attempt(0)``, and ``attempt(1)`` too if the primary is slow; return the first success.

    ``on_hedge(delay_s)`` is called when the hedge starts. Latencies of
    successful attempts feed the policy's estimator. Raises the primary's
    exception when every attempt failed; cancelling the caller cancels both.
    """
    start = clock()
    policy.record_call(start)
    primary = asyncio.ensure_future(attempt(0))
    delay = policy.delay_s()
    timer = asyncio.ensure_future(sleep(delay))
    tasks = [primary]
    started = [start]
    try:
        await asyncio.wait((primary, timer), return_when=asyncio.FIRST_COMPLETED)
        if not primary.done():
            now = clock()
            if policy.may_hedge(now):
                if on_hedge is not None:
                    on_hedge(delay)
                tasks.append(asyncio.ensure_future(attempt(1)))
                started.append(now)
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for i, task in enumerate(tasks):
                if task in done and not task.cancelled() and task.exception() is None:
                    policy.observe(clock() - started[i])
                    return task.result()
        return primary.result()  # every attempt failed: the primary's error
    finally:
        timer.cancel()
        losers = [t for t in tasks if not t.done()]
        for task in losers:
            task.cancel()
        if losers:
            await asyncio.wait(losers)
        for task in tasks:  # a failed loser's error is not news: mark it retrieved
            if not task.cancelled():
                task.exception()

"""Resilience primitives: pure decision cores the manager acts on, and thin asyncio wrappers.

Decisions (no clock reads, no sleeps): :class:`CircuitBreaker` with a
consecutive-failures (:class:`BreakerConfig`) or sliding-window
(:class:`SlidingWindowConfig`) policy, :class:`RetryPlanner`,
:class:`RatioBudget`, :class:`BulkheadCore`, :class:`HedgePolicy`.
Effects (asyncio, injected clock and sleep): :class:`BreakerGuard`,
:func:`run_with_retry`, :class:`Bulkhead`, :func:`hedged`, :func:`with_timeout`.
Parameters, units and defaults: ``docs/resilience.md``.
"""

from harness.resilience.backoff import Jitter
from harness.resilience.breaker import AnyBreakerConfig, BreakerConfig, CircuitBreaker
from harness.resilience.budget import BudgetConfig, RatioBudget
from harness.resilience.bulkhead import Admission, Bulkhead, BulkheadConfig, BulkheadCore
from harness.resilience.errors import BreakerOpenError, CallTimeoutError, PoolTimeoutError, ResilienceError
from harness.resilience.guard import BreakerGuard
from harness.resilience.hedging import HedgeConfig, HedgePolicy, hedged
from harness.resilience.latency import LatencyEstimator
from harness.resilience.outcomes import COUNTABLE_OUTCOMES, DEFAULT_RETRYABLE_OUTCOMES, outcome_of
from harness.resilience.retry import (
    RetryAfter,
    RetryConfig,
    RetryDecision,
    RetryPlanner,
    RetryState,
    Stop,
    run_with_retry,
)
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState, Permit, Transition, TripPolicy
from harness.resilience.timeout import Sleep, attempt_timeout_s, remaining_s, with_timeout

__all__ = [
    "COUNTABLE_OUTCOMES",
    "DEFAULT_RETRYABLE_OUTCOMES",
    "Admission",
    "AnyBreakerConfig",
    "BreakerConfig",
    "BreakerGuard",
    "BreakerOpenError",
    "BreakerState",
    "BudgetConfig",
    "Bulkhead",
    "BulkheadConfig",
    "BulkheadCore",
    "CallTimeoutError",
    "CircuitBreaker",
    "HedgeConfig",
    "HedgePolicy",
    "Jitter",
    "LatencyEstimator",
    "Permit",
    "PoolTimeoutError",
    "RatioBudget",
    "ResilienceError",
    "RetryAfter",
    "RetryConfig",
    "RetryDecision",
    "RetryPlanner",
    "RetryState",
    "Sleep",
    "SlidingWindowConfig",
    "Stop",
    "Transition",
    "TripPolicy",
    "attempt_timeout_s",
    "hedged",
    "outcome_of",
    "remaining_s",
    "run_with_retry",
    "with_timeout",
]

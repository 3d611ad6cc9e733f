"""Trip policy: consecutive failures (the seeds' ``CircuitBreakerConfig``, corrected).

- CLOSED: ``failure_threshold`` counted failures in a row open the breaker; a
  success resets the count. Durations are not looked at.
- HALF_OPEN: at most ``half_open_max_calls`` probes in flight; one probe failure
  reopens at once; ``success_threshold`` probe successes close it.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

from harness.resilience.outcomes import COUNTABLE_OUTCOMES, DEFAULT_FAILURE_OUTCOMES, check_outcomes
from harness.resilience.states import BreakerState, Verdict

__all__ = ["BreakerConfig", "ConsecutiveFailures"]


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Consecutive-failures breaker settings. Raises ``ValueError`` for a value out of range.

    ``failure_outcomes`` names the outcomes counted as failures (a subset of
    ``tool_error``, ``transport_error``, ``timeout``); other outcomes are ignored.
    """

    failure_threshold: int = 5
    recovery_timeout_s: float = 30.0
    success_threshold: int = 1
    half_open_max_calls: int = 1
    failure_outcomes: frozenset[str] = DEFAULT_FAILURE_OUTCOMES

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if not self.recovery_timeout_s >= 0:
            raise ValueError(f"recovery_timeout_s must be >= 0, got {self.recovery_timeout_s}")
        if self.success_threshold < 1:
            raise ValueError(f"success_threshold must be >= 1, got {self.success_threshold}")
        if self.half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {self.half_open_max_calls}")
        check_outcomes("failure_outcomes", self.failure_outcomes, COUNTABLE_OUTCOMES)

    def make_policy(self) -> ConsecutiveFailures:
        return ConsecutiveFailures(self)


class ConsecutiveFailures:
    """Counts failures in a row in CLOSED and probe successes in HALF_OPEN."""

    __slots__ = ("_config", "_failures", "_probe_successes")

    def __init__(self, config: BreakerConfig) -> None:
        self._config = config
        self._failures = 0
        self._probe_successes = 0

    @property
    def recovery_timeout_s(self) -> float:
        return self._config.recovery_timeout_s

    @property
    def half_open_max_calls(self) -> int:
        return self._config.half_open_max_calls

    @property
    def half_open_permits(self) -> int:
        return sys.maxsize

    @property
    def slow_call_duration_s(self) -> float:
        return math.inf

    @property
    def times_calls(self) -> bool:
        return False

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def on_closed(self, failed: bool, slow: bool, now: float, cause: str) -> str | None:
        if not failed:
            self._failures = 0
            return None
        self._failures += 1
        if self._failures >= self._config.failure_threshold:
            return (
                f"{self._failures} consecutive failures "
                f"(threshold {self._config.failure_threshold}); last: {cause}"
            )
        return None

    def on_probe(self, failed: bool, slow: bool, cause: str) -> Verdict | None:
        if failed:
            return BreakerState.OPEN, f"probe failed in half-open: {cause}"
        self._probe_successes += 1
        if self._probe_successes >= self._config.success_threshold:
            return BreakerState.CLOSED, f"{self._probe_successes} probe(s) succeeded"
        return None

    def reset(self) -> None:
        self._failures = 0
        self._probe_successes = 0

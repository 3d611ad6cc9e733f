"""Trip policy: failure and slow-call rates over a sliding window (resilience4j's model).

- CLOSED: every counted outcome goes into the window (the last ``window_size``
  calls, or the calls of the last ``window_size`` seconds). Once the window
  holds at least ``minimum_number_of_calls``, the breaker opens when the failure
  rate reaches ``failure_rate_threshold`` percent or the slow-call rate (calls
  longer than ``slow_call_duration_s``, failed or not) reaches
  ``slow_call_rate_threshold`` percent. Rates are checked when an outcome is recorded.
- HALF_OPEN: ``permitted_number_of_calls_in_half_open`` probes are admitted (at
  most ``half_open_max_calls`` at once; a cancelled probe gives its permit
  back). Their outcomes are judged as a rate with the same thresholds: the
  breaker reopens if either rate over those probes reaches its threshold and
  closes otherwise. The ruling is made as soon as the outcomes still missing
  can no longer change it (so a dead server is not probed N times).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from harness.resilience.outcomes import COUNTABLE_OUTCOMES, DEFAULT_FAILURE_OUTCOMES, check_outcomes
from harness.resilience.states import BreakerState, Verdict
from harness.resilience.window import CountWindow, TimeWindow

__all__ = ["SlidingWindowConfig", "SlidingWindowPolicy"]


@dataclass(frozen=True, slots=True)
class SlidingWindowConfig:
    """Sliding-window breaker settings (defaults: resilience4j's). Raises ``ValueError`` when out of range.

    ``window_size`` is a number of calls for ``window_type="count"`` and a number
    of seconds for ``window_type="time"``. Thresholds are percentages in (0, 100].
    """

    window_type: Literal["count", "time"] = "count"
    window_size: int = 100
    minimum_number_of_calls: int = 100
    failure_rate_threshold: float = 50.0
    slow_call_duration_s: float = 60.0
    slow_call_rate_threshold: float = 100.0
    recovery_timeout_s: float = 60.0
    permitted_number_of_calls_in_half_open: int = 10
    half_open_max_calls: int = 10
    failure_outcomes: frozenset[str] = DEFAULT_FAILURE_OUTCOMES

    def __post_init__(self) -> None:
        if self.window_type not in ("count", "time"):
            raise ValueError(f"window_type must be 'count' or 'time', got {self.window_type!r}")
        if self.window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {self.window_size}")
        if self.minimum_number_of_calls < 1:
            raise ValueError(f"minimum_number_of_calls must be >= 1, got {self.minimum_number_of_calls}")
        if self.window_type == "count" and self.minimum_number_of_calls > self.window_size:
            raise ValueError(
                f"minimum_number_of_calls ({self.minimum_number_of_calls}) must be <= window_size "
                f"({self.window_size}) for a count window, or the breaker could never open"
            )
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            value = getattr(self, name)
            if not 0 < value <= 100:
                raise ValueError(f"{name} must be a percentage in (0, 100], got {value}")
        if not self.slow_call_duration_s > 0:
            raise ValueError(f"slow_call_duration_s must be > 0, got {self.slow_call_duration_s}")
        if not self.recovery_timeout_s >= 0:
            raise ValueError(f"recovery_timeout_s must be >= 0, got {self.recovery_timeout_s}")
        if self.permitted_number_of_calls_in_half_open < 1:
            raise ValueError(
                "permitted_number_of_calls_in_half_open must be >= 1, "
                f"got {self.permitted_number_of_calls_in_half_open}"
            )
        if self.half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {self.half_open_max_calls}")
        check_outcomes("failure_outcomes", self.failure_outcomes, COUNTABLE_OUTCOMES)

    def make_policy(self) -> SlidingWindowPolicy:
        return SlidingWindowPolicy(self)

    def describe_window(self) -> str:
        unit = "calls" if self.window_type == "count" else "s"
        return f"{self.window_type} window of {self.window_size} {unit}"


class SlidingWindowPolicy:
    """Failure and slow-call rates over a window in CLOSED, over N probes in HALF_OPEN."""

    __slots__ = (
        "_config",
        "_fail_pct",
        "_min_calls",
        "_probe_failed",
        "_probe_slow",
        "_probes",
        "_slow_pct",
        "window",
    )

    def __init__(self, config: SlidingWindowConfig) -> None:
        self._config = config
        self.window: CountWindow | TimeWindow = (
            CountWindow(config.window_size)
            if config.window_type == "count"
            else TimeWindow(config.window_size)
        )
        self._min_calls = config.minimum_number_of_calls
        self._fail_pct = config.failure_rate_threshold
        self._slow_pct = config.slow_call_rate_threshold
        self._probes = self._probe_failed = self._probe_slow = 0

    @property
    def recovery_timeout_s(self) -> float:
        return self._config.recovery_timeout_s

    @property
    def half_open_max_calls(self) -> int:
        return self._config.half_open_max_calls

    @property
    def half_open_permits(self) -> int:
        return self._config.permitted_number_of_calls_in_half_open

    @property
    def slow_call_duration_s(self) -> float:
        return self._config.slow_call_duration_s

    @property
    def times_calls(self) -> bool:
        return True

    def on_closed(self, failed: bool, slow: bool, now: float, cause: str) -> str | None:
        w = self.window
        w.record(failed, slow, now)
        total = w.total
        if total < self._min_calls:
            return None
        if w.failures * 100.0 >= self._fail_pct * total:
            return self._why("failure", w.failures, total, self._fail_pct, cause)
        if w.slow * 100.0 >= self._slow_pct * total:
            return self._why("slow-call", w.slow, total, self._slow_pct, cause)
        return None

    def on_probe(self, failed: bool, slow: bool, cause: str) -> Verdict | None:
        self._probes += 1
        self._probe_failed += failed
        self._probe_slow += slow
        n = self._config.permitted_number_of_calls_in_half_open
        fail_bar = self._fail_pct * n
        slow_bar = self._slow_pct * n
        if self._probe_failed * 100.0 >= fail_bar:
            return BreakerState.OPEN, self._probe_why("failed", self._probe_failed, n, self._fail_pct, cause)
        if self._probe_slow * 100.0 >= slow_bar:
            return BreakerState.OPEN, self._probe_why("were slow", self._probe_slow, n, self._slow_pct, cause)
        missing = n - self._probes
        if (self._probe_failed + missing) * 100.0 < fail_bar and (
            self._probe_slow + missing
        ) * 100.0 < slow_bar:
            return BreakerState.CLOSED, (
                f"{self._probes} of {n} half-open probes judged: failure rate below "
                f"{self._fail_pct:g}% and slow-call rate below {self._slow_pct:g}%"
            )
        return None

    def reset(self) -> None:
        self.window.clear()
        self._probes = self._probe_failed = self._probe_slow = 0

    def _why(self, kind: str, count: int, total: int, threshold: float, cause: str) -> str:
        return (
            f"{kind} rate {100.0 * count / total:.1f}% >= {threshold:g}% over {total} calls "
            f"({self._config.describe_window()}); last: {cause}"
        )

    @staticmethod
    def _probe_why(what: str, count: int, n: int, threshold: float, cause: str) -> str:
        return f"{count} of {n} half-open probes {what} (>= {threshold:g}% of {n}); last: {cause}"

"""A count-based circuit breaker as a pure state machine.

The breaker decides; it never reads a clock, sleeps or logs. Callers pass
``now`` (seconds, any monotonic origin) and publish the :class:`Transition`
records it returns. Semantics (the seeds' ``CircuitBreakerConfig``, corrected):

- CLOSED admits every call; ``failure_threshold`` consecutive counted failures open it.
- OPEN rejects every call until ``recovery_timeout_s`` has passed since it opened;
  the first admission after that moves it to HALF_OPEN.
- HALF_OPEN admits at most ``half_open_max_calls`` concurrent probes. One probe
  failure reopens it at once; ``success_threshold`` probe successes close it.
- Its own rejections are not failures, and an outcome that does not count
  (a caller's cancellation, an outcome outside the failure policy) only frees
  the probe slot it held.
- A call admitted in one state generation and finished in another (say admitted
  while CLOSED, finished after the breaker opened) does not move the breaker:
  only the calls admitted by the current state decide its next move.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "Permit", "Transition"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Breaker thresholds. Raises ``ValueError`` for a value out of range."""

    failure_threshold: int = 5
    recovery_timeout_s: float = 30.0
    success_threshold: int = 1
    half_open_max_calls: int = 1

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {self.failure_threshold}")
        if self.recovery_timeout_s < 0:
            raise ValueError(f"recovery_timeout_s must be >= 0, got {self.recovery_timeout_s}")
        if self.success_threshold < 1:
            raise ValueError(f"success_threshold must be >= 1, got {self.success_threshold}")
        if self.half_open_max_calls < 1:
            raise ValueError(f"half_open_max_calls must be >= 1, got {self.half_open_max_calls}")


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, ready for the ``breaker`` event table."""

    at: float
    from_state: BreakerState
    to_state: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class Permit:
    """The breaker's answer to one admission request."""

    allowed: bool
    state: BreakerState
    generation: int
    probe: bool = False


class CircuitBreaker:
    """Pure consecutive-failures breaker; see the module docstring for semantics."""

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config or BreakerConfig()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._consecutive_failures = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probe_successes = 0

    @property
    def state(self) -> BreakerState:
        """The state as of the last decision (OPEN stays OPEN until an admission moves it)."""
        return self._state

    @property
    def probes_in_flight(self) -> int:
        return self._probes_in_flight

    def admit(self, now: float) -> tuple[Permit, list[Transition]]:
        """Decide whether one call may go through now."""
        transitions: list[Transition] = []
        if self._state is BreakerState.OPEN:
            if now - self._opened_at < self.config.recovery_timeout_s:
                return Permit(False, BreakerState.OPEN, self._generation), transitions
            transitions.append(
                self._move(
                    now, BreakerState.HALF_OPEN, f"recovery timeout {self.config.recovery_timeout_s}s elapsed"
                )
            )
        if self._state is BreakerState.HALF_OPEN:
            if self._probes_in_flight >= self.config.half_open_max_calls:
                return Permit(False, BreakerState.HALF_OPEN, self._generation), transitions
            self._probes_in_flight += 1
            return Permit(True, BreakerState.HALF_OPEN, self._generation, probe=True), transitions
        return Permit(True, BreakerState.CLOSED, self._generation), transitions

    def on_success(self, permit: Permit, now: float) -> list[Transition]:
        """Record a successful call admitted by ``permit``."""
        if not self._current(permit):
            return []
        if permit.probe:
            self._probes_in_flight -= 1
            self._probe_successes += 1
            if self._probe_successes >= self.config.success_threshold:
                return [self._move(now, BreakerState.CLOSED, f"{self._probe_successes} probe(s) succeeded")]
            return []
        self._consecutive_failures = 0
        return []

    def on_failure(self, permit: Permit, now: float, cause: str = "failure") -> list[Transition]:
        """Record a counted failure of a call admitted by ``permit``."""
        if not self._current(permit):
            return []
        if permit.probe:
            self._probes_in_flight -= 1
            return [self._move(now, BreakerState.OPEN, f"probe failed in half-open: {cause}")]
        self._consecutive_failures += 1
        if self._consecutive_failures >= self.config.failure_threshold:
            return [
                self._move(
                    now,
                    BreakerState.OPEN,
                    f"{self._consecutive_failures} consecutive failures "
                    f"(threshold {self.config.failure_threshold}); last: {cause}",
                )
            ]
        return []

    def on_ignored(self, permit: Permit) -> None:
        """Release a permit whose outcome does not count (e.g. the caller cancelled)."""
        if self._current(permit) and permit.probe:
            self._probes_in_flight -= 1

    def _current(self, permit: Permit) -> bool:
        return permit.allowed and permit.generation == self._generation

    def _move(self, now: float, to_state: BreakerState, reason: str) -> Transition:
        transition = Transition(now, self._state, to_state, reason)
        self._state = to_state
        self._generation += 1
        self._consecutive_failures = 0
        self._probes_in_flight = 0
        self._probe_successes = 0
        if to_state is BreakerState.OPEN:
            self._opened_at = now
        return transition

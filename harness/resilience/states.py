"""The vocabulary every breaker policy shares: states, permits, transitions, the policy seam.

A breaker is one state machine (:class:`harness.resilience.breaker.CircuitBreaker`)
whose trip decisions are delegated to a :class:`TripPolicy`: consecutive failures
(:mod:`harness.resilience.consecutive`) or a resilience4j-style sliding window
(:mod:`harness.resilience.sliding_window`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

__all__ = ["BreakerState", "Permit", "Transition", "TripPolicy", "Verdict"]


class BreakerState(StrEnum):
    """Breaker states as written to the ``breaker`` and ``calls`` tables."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    #: Manual: rejects every call until reset (an operator's kill switch).
    FORCED_OPEN = "forced_open"
    #: Manual: admits every call and never trips (``CIRCUIT_BREAKER=off``).
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change, ready for the ``breaker`` event table (``at`` on the caller's clock)."""

    at: float
    from_state: BreakerState
    to_state: BreakerState
    reason: str


@dataclass(frozen=True, slots=True)
class Permit:
    """The breaker's answer to one admission request.

    ``generation`` ties the permit to the state period that issued it: an
    outcome reported against an older generation does not move the breaker.
    """

    allowed: bool
    state: BreakerState
    generation: int
    probe: bool = False


#: A policy's ruling on the half-open period: where to go and why.
Verdict = tuple[BreakerState, str]


class TripPolicy(Protocol):
    """Decides, from counted outcomes, when CLOSED opens and how HALF_OPEN ends.

    The breaker owns the states, the clock values, the probe slots and the
    generations; a policy only counts. ``slow`` is true for a call that took
    longer than :attr:`slow_call_duration_s`.
    """

    @property
    def recovery_timeout_s(self) -> float:
        """How long OPEN rejects before the next admission may probe (seconds)."""
        ...

    @property
    def half_open_max_calls(self) -> int:
        """Most probes in flight at once in HALF_OPEN."""
        ...

    @property
    def half_open_permits(self) -> int:
        """Most probes admitted in one HALF_OPEN period (cancelled probes give theirs back)."""
        ...

    @property
    def slow_call_duration_s(self) -> float:
        """Calls longer than this are slow (``inf``: the policy ignores durations)."""
        ...

    @property
    def times_calls(self) -> bool:
        """Whether CLOSED decisions read ``now`` or durations.

        ``False`` promises that a CLOSED success never moves the breaker and that
        ``now`` and durations are ignored in CLOSED, so a caller may skip the
        clock there (the guard's fast path).
        """
        ...

    def on_closed(self, failed: bool, slow: bool, now: float, cause: str) -> str | None:
        """Count one CLOSED outcome; return why to open now, or ``None``."""
        ...

    def on_probe(self, failed: bool, slow: bool, cause: str) -> Verdict | None:
        """Count one probe outcome; return ``(CLOSED | OPEN, why)`` once decided, or ``None``."""
        ...

    def reset(self) -> None:
        """Forget every counted outcome (called on every state change)."""
        ...

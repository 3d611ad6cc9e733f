"""The asyncio face of a breaker: read the clock, run the call, report its outcome.

:class:`BreakerGuard` owns nothing but effects: it reads the injected clock,
awaits the protected call, classifies how it ended and hands every
:class:`Transition` to ``on_transition`` (for the ``breaker`` table). All
decisions stay in the pure :class:`CircuitBreaker`. Because the breaker is
decided and updated between awaits on one event loop, no lock is needed and
none is held while the call runs (pybreaker's mistake: its lock spans the call).

Hot path: while the breaker is CLOSED (or DISABLED) under a policy that does
not time calls, a call takes the breaker's ``fast_permit`` and reads no clock;
a failure, a probe, or a timing policy (sliding window) takes the full path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, TypeVarTuple

from harness.resilience.breaker import CircuitBreaker
from harness.resilience.errors import BreakerOpenError
from harness.resilience.outcomes import OK, outcome_of
from harness.resilience.states import Permit, Transition

__all__ = ["BreakerGuard"]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class BreakerGuard:
    """Runs calls through a :class:`CircuitBreaker`.

    ``classify`` maps an exception to an outcome name (default:
    :func:`~harness.resilience.outcomes.outcome_of`); the breaker's
    ``failure_outcomes`` decide whether it counts. A cancelled call never counts.
    """

    __slots__ = ("_classify", "_clock", "_on_transition", "_timed", "breaker", "name")

    def __init__(
        self,
        breaker: CircuitBreaker,
        *,
        name: str = "",
        clock: Callable[[], float] = time.monotonic,
        on_transition: Callable[[Transition], None] | None = None,
        classify: Callable[[BaseException], str] = outcome_of,
    ) -> None:
        self.breaker = breaker
        self.name = name
        self._clock = clock
        self._on_transition = on_transition
        self._classify = classify
        self._timed = breaker.policy.times_calls

    async def call(self, fn: Callable[[*Ts], Awaitable[T]], /, *args: *Ts) -> T:
        """Await ``fn(*args)`` if the breaker admits it.

        Raises :class:`BreakerOpenError` (outcome ``rejected_open``) when
        refused; otherwise returns or re-raises whatever the call did.
        """
        breaker = self.breaker
        permit = breaker.fast_permit
        timed = permit is None or self._timed
        start = self._clock() if timed else 0.0
        if permit is None:
            permit = self._admit(start)
        try:
            result = await fn(*args)
        except asyncio.CancelledError:
            breaker.on_ignored(permit)
            raise
        except BaseException as exc:
            self._settle_error(permit, start if timed else None, exc)
            raise
        if timed:
            self._settle_success(permit, start)
        else:
            breaker.on_success(permit, 0.0)  # CLOSED/DISABLED, untimed policy: cannot move the breaker
        return result

    def call_sync(self, fn: Callable[[*Ts], T], /, *args: *Ts) -> T:
        """Run a synchronous ``fn(*args)`` through the breaker (same rules as :meth:`call`)."""
        breaker = self.breaker
        permit = breaker.fast_permit
        timed = permit is None or self._timed
        start = self._clock() if timed else 0.0
        if permit is None:
            permit = self._admit(start)
        try:
            result = fn(*args)
        except BaseException as exc:
            self._settle_error(permit, start if timed else None, exc)
            raise
        if timed:
            self._settle_success(permit, start)
        else:
            breaker.on_success(permit, 0.0)
        return result

    def settle(self, permit: Permit, start: float, outcome: str, cause: str = "") -> None:
        """Report how a call admitted at ``start`` (on this guard's clock) ended, for callers that run it themselves."""
        now = self._clock()
        transitions = self.breaker.record(permit, now, outcome, now - start, cause)
        if transitions:
            self._publish(transitions)

    def _admit(self, start: float) -> Permit:
        permit, transitions = self.breaker.admit(start)
        if transitions:
            self._publish(transitions)
        if not permit.allowed:
            raise BreakerOpenError(self.name, permit.state)
        return permit

    def _settle_success(self, permit: Permit, start: float) -> None:
        now = self._clock()
        transitions = self.breaker.on_success(permit, now, now - start)
        if transitions:
            self._publish(transitions)

    def _settle_error(self, permit: Permit, start: float | None, exc: BaseException) -> None:
        """``start`` is ``None`` for a call on the clock-free path (its policy ignores durations)."""
        outcome = self._classify(exc)
        if outcome == OK:  # an exception is never a success, whatever a classifier says
            outcome = "error"
        now = self._clock()
        duration = 0.0 if start is None else now - start
        transitions = self.breaker.record(permit, now, outcome, duration, f"{outcome}: {exc}"[:200])
        if transitions:
            self._publish(transitions)

    def _publish(self, transitions: list[Transition]) -> None:
        if self._on_transition is not None:
            for transition in transitions:
                self._on_transition(transition)

"""The circuit breaker as a pure state machine, with pluggable trip policies.

The breaker decides; it never reads a clock, sleeps or logs. Callers pass
``now`` (seconds, any monotonic origin) and publish the :class:`Transition`
records it returns (the ``breaker`` event table). Semantics:

- CLOSED admits every call; its :class:`TripPolicy` says when counted outcomes
  open it (:class:`BreakerConfig`: consecutive failures;
  :class:`SlidingWindowConfig`: failure / slow-call rates over a window).
- OPEN rejects every call until ``recovery_timeout_s`` has passed since it
  opened; the first admission after that moves it to HALF_OPEN.
- HALF_OPEN admits at most ``half_open_max_calls`` concurrent probes (and, for
  the sliding-window policy, ``permitted_number_of_calls_in_half_open`` in all);
  the policy says when the probes' outcomes close or reopen it.
- FORCED_OPEN (:meth:`CircuitBreaker.force_open`) rejects everything and
  DISABLED (:meth:`CircuitBreaker.disable`) admits everything and never trips,
  until :meth:`CircuitBreaker.reset` closes the breaker again.
- Its own rejections are never outcomes, and an outcome that does not count (a
  caller's cancellation, an outcome outside ``failure_outcomes``) only frees the
  probe slot it held.
- A call admitted in one state generation and finished in another (say admitted
  while CLOSED, finished after the breaker opened) does not move the breaker:
  only the calls admitted by the current state decide its next move.

Hot path: in CLOSED and DISABLED, :attr:`CircuitBreaker.fast_permit` is the
permit every admission gets, whatever the clock says, so a caller may take it
without calling :meth:`~CircuitBreaker.admit`; and under a policy that does not
time calls (``policy.times_calls`` is false) its success needs no clock either.
Permits are built once per state change, so the happy path allocates nothing
but the empty transition lists.
"""

from __future__ import annotations

from harness.resilience.consecutive import BreakerConfig
from harness.resilience.outcomes import OK
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState, Permit, Transition, TripPolicy

__all__ = ["AnyBreakerConfig", "BreakerConfig", "BreakerState", "CircuitBreaker", "Permit", "Transition"]

AnyBreakerConfig = BreakerConfig | SlidingWindowConfig

_CLOSED = BreakerState.CLOSED
_OPEN = BreakerState.OPEN
_HALF_OPEN = BreakerState.HALF_OPEN
_FORCED_OPEN = BreakerState.FORCED_OPEN
_DISABLED = BreakerState.DISABLED


class CircuitBreaker:
    """Pure breaker state machine; see the module docstring for semantics."""

    __slots__ = (
        "_admit_permit",
        "_failure_outcomes",
        "_generation",
        "_max_probes",
        "_opened_at",
        "_policy",
        "_probe_permits",
        "_probes_in_flight",
        "_probes_started",
        "_recovery_s",
        "_reject_permit",
        "_slow_s",
        "_state",
        "config",
        "fast_permit",
    )

    def __init__(self, config: AnyBreakerConfig | None = None) -> None:
        self.config: AnyBreakerConfig = config or BreakerConfig()
        policy: TripPolicy = self.config.make_policy()
        self._policy = policy
        self._failure_outcomes = self.config.failure_outcomes
        self._recovery_s = policy.recovery_timeout_s
        self._max_probes = policy.half_open_max_calls
        self._probe_permits = policy.half_open_permits
        self._slow_s = policy.slow_call_duration_s
        self._state = _CLOSED
        self._generation = 0
        self._opened_at = 0.0
        self._probes_in_flight = 0
        self._probes_started = 0
        # Permits are immutable and identical within a generation: build them once per transition.
        self._admit_permit = Permit(True, _CLOSED, 0)
        self._reject_permit = Permit(False, _CLOSED, 0)
        #: The permit of every admission in CLOSED or DISABLED (no clock needed); ``None`` otherwise.
        self.fast_permit: Permit | None = self._admit_permit

    @property
    def state(self) -> BreakerState:
        """The state as of the last decision (OPEN stays OPEN until an admission moves it)."""
        return self._state

    @property
    def policy(self) -> TripPolicy:
        return self._policy

    @property
    def generation(self) -> int:
        """Counts state changes; a permit from an older generation no longer moves the breaker."""
        return self._generation

    @property
    def probes_in_flight(self) -> int:
        return self._probes_in_flight

    @property
    def opened_at(self) -> float:
        """When the breaker last opened (on the caller's clock)."""
        return self._opened_at

    def admit(self, now: float) -> tuple[Permit, list[Transition]]:
        """Decide whether one call may go through now."""
        state = self._state
        if state is _CLOSED or state is _DISABLED:
            return self._admit_permit, []
        if state is _OPEN:
            if now - self._opened_at < self._recovery_s:
                return self._reject_permit, []
            transitions = [self._move(now, _HALF_OPEN, f"recovery timeout {self._recovery_s:g}s elapsed")]
        elif state is _HALF_OPEN:
            transitions = []
        else:
            return self._reject_permit, []
        if self._probes_in_flight >= self._max_probes or self._probes_started >= self._probe_permits:
            return self._reject_permit, transitions
        self._probes_in_flight += 1
        self._probes_started += 1
        return self._admit_permit, transitions

    def on_success(self, permit: Permit, now: float, duration_s: float = 0.0) -> list[Transition]:
        """Record a successful call admitted by ``permit`` that took ``duration_s`` seconds."""
        if permit is self.fast_permit:
            if self._state is _CLOSED:
                slow = duration_s > self._slow_s
                why = self._policy.on_closed(False, slow, now, "slow success" if slow else "success")
                if why is not None:
                    return [self._move(now, _OPEN, why)]
            return []
        if permit.generation != self._generation or not permit.allowed:
            return []
        slow = duration_s > self._slow_s
        return self._count(permit, now, False, slow, "slow success" if slow else "success")

    def on_failure(
        self, permit: Permit, now: float, cause: str = "failure", duration_s: float = 0.0
    ) -> list[Transition]:
        """Record a counted failure of a call admitted by ``permit``."""
        if permit.generation != self._generation or not permit.allowed:
            return []
        return self._count(permit, now, True, duration_s > self._slow_s, cause)

    def on_ignored(self, permit: Permit) -> None:
        """Release a permit whose outcome does not count (e.g. the caller cancelled)."""
        if permit.probe and permit.allowed and permit.generation == self._generation:
            self._probes_in_flight -= 1
            self._probes_started -= 1

    def record(
        self, permit: Permit, now: float, outcome: str, duration_s: float = 0.0, cause: str = ""
    ) -> list[Transition]:
        """Record an outcome by its ``calls``-table name, as ``failure_outcomes`` classifies it.

        ``ok`` is a success, an outcome in ``failure_outcomes`` a failure, anything
        else (``cancelled``, an outcome the config does not count) is ignored.
        """
        if outcome == OK:
            return self.on_success(permit, now, duration_s)
        if outcome in self._failure_outcomes:
            return self.on_failure(permit, now, cause or outcome, duration_s)
        self.on_ignored(permit)
        return []

    def force_open(self, now: float, reason: str = "forced open") -> list[Transition]:
        """Reject every call until :meth:`reset` (a manual kill switch)."""
        return [] if self._state is _FORCED_OPEN else [self._move(now, _FORCED_OPEN, reason)]

    def disable(self, now: float, reason: str = "disabled") -> list[Transition]:
        """Admit every call and never trip until :meth:`reset` (``CIRCUIT_BREAKER=off``)."""
        return [] if self._state is _DISABLED else [self._move(now, _DISABLED, reason)]

    def reset(self, now: float, reason: str = "reset") -> list[Transition]:
        """Close the breaker from any state and forget every counted outcome."""
        if self._state is _CLOSED:
            self._policy.reset()
            return []
        return [self._move(now, _CLOSED, reason)]

    def _count(self, permit: Permit, now: float, failed: bool, slow: bool, cause: str) -> list[Transition]:
        if permit.probe:
            self._probes_in_flight -= 1
            verdict = self._policy.on_probe(failed, slow, cause)
            return [] if verdict is None else [self._move(now, verdict[0], verdict[1])]
        if self._state is _CLOSED:
            why = self._policy.on_closed(failed, slow, now, cause)
            if why is not None:
                return [self._move(now, _OPEN, why)]
        return []

    def _move(self, now: float, to_state: BreakerState, reason: str) -> Transition:
        transition = Transition(now, self._state, to_state, reason)
        self._state = to_state
        self._generation += 1
        self._probes_in_flight = 0
        self._probes_started = 0
        self._policy.reset()
        if to_state is _OPEN:
            self._opened_at = now
        gen = self._generation
        self._admit_permit = Permit(True, to_state, gen, probe=to_state is _HALF_OPEN)
        self._reject_permit = Permit(False, to_state, gen)
        self.fast_permit = self._admit_permit if to_state is _CLOSED or to_state is _DISABLED else None
        return transition

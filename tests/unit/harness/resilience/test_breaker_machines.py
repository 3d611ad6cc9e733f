"""Both breaker policies against plain reference models, through random interleavings.

Admissions, successes, failures, slow calls, cancellations, outcomes the config
does not count, manual states and clock advances, in any order. After every
step: the breaker is in the model's state, moved exactly when the model says,
admitted nothing while open, left OPEN only after the recovery timeout and
never had more probes in flight (or in all) than permitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from harness.resilience.breaker import AnyBreakerConfig, BreakerConfig, CircuitBreaker
from harness.resilience.outcomes import COUNTABLE_OUTCOMES
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState, Permit, Transition

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, DISABLED = BreakerState.FORCED_OPEN, BreakerState.DISABLED
SLOW_S = 1.0
OUTCOMES = ["ok", "tool_error", "transport_error", "timeout", "cancelled"]
outcome_sets = st.frozensets(st.sampled_from(sorted(COUNTABLE_OUTCOMES)), min_size=1)


@dataclass
class Call:
    permit: Permit
    epoch: int
    probe: bool


@dataclass
class Model:
    """What every policy shares: states, epochs, probe slots, the recovery timeout."""

    recovery_s: float
    max_probes: int
    probe_permits: int
    failure_outcomes: frozenset[str]
    state: BreakerState = CLOSED
    epoch: int = 0
    opened_at: float = 0.0
    probes: int = 0
    probes_started: int = 0

    def move(self, to: BreakerState, now: float) -> None:
        self.state = to
        self.epoch += 1
        self.probes = self.probes_started = 0
        self.forget()
        if to is OPEN:
            self.opened_at = now

    def admit(self, now: float) -> tuple[bool, list[BreakerState]]:
        moves = []
        if self.state is OPEN and now - self.opened_at >= self.recovery_s:
            self.move(HALF_OPEN, now)
            moves.append(HALF_OPEN)
        if self.state in (CLOSED, DISABLED):
            return True, moves
        if (
            self.state is HALF_OPEN
            and self.probes < self.max_probes
            and self.probes_started < self.probe_permits
        ):
            self.probes += 1
            self.probes_started += 1
            return True, moves
        return False, moves

    def finish(self, call: Call, outcome: str, slow: bool, now: float) -> list[BreakerState]:
        if call.epoch != self.epoch:
            return []
        counted = outcome == "ok" or outcome in self.failure_outcomes
        if call.probe:
            self.probes -= 1
            if not counted:
                self.probes_started -= 1
                return []
            verdict = self.judge_probe(outcome != "ok", slow)
        elif counted and self.state is CLOSED:
            verdict = OPEN if self.trips(outcome != "ok", slow, now) else None
        else:
            verdict = None
        if verdict is None:
            return []
        self.move(verdict, now)
        return [verdict]

    def forget(self) -> None:
        raise NotImplementedError

    def trips(self, failed: bool, slow: bool, now: float) -> bool:
        raise NotImplementedError

    def judge_probe(self, failed: bool, slow: bool) -> BreakerState | None:
        raise NotImplementedError


@dataclass
class ConsecutiveModel(Model):
    threshold: int = 1
    successes_needed: int = 1
    failures: int = 0
    probe_successes: int = 0

    def forget(self) -> None:
        self.failures = self.probe_successes = 0

    def trips(self, failed: bool, slow: bool, now: float) -> bool:
        self.failures = self.failures + 1 if failed else 0
        return self.failures >= self.threshold

    def judge_probe(self, failed: bool, slow: bool) -> BreakerState | None:
        if failed:
            return OPEN
        self.probe_successes += 1
        return CLOSED if self.probe_successes >= self.successes_needed else None


@dataclass
class SlidingModel(Model):
    """Keeps every outcome and filters; rates compared exactly (as fractions)."""

    window_type: str = "count"
    window_size: int = 1
    min_calls: int = 1
    fail_pct: int = 50
    slow_pct: int = 100
    closed_calls: list[tuple[int, bool, bool]] = field(default_factory=list)
    probe_results: list[tuple[bool, bool]] = field(default_factory=list)

    def forget(self) -> None:
        self.closed_calls, self.probe_results = [], []

    def over(self, fails: int, slows: int, total: int) -> bool:
        return Fraction(100 * fails, total) >= self.fail_pct or Fraction(100 * slows, total) >= self.slow_pct

    def trips(self, failed: bool, slow: bool, now: float) -> bool:
        sec = math.floor(now)
        self.closed_calls.append((sec, failed, slow))
        if self.window_type == "count":
            window = self.closed_calls[-self.window_size :]
        else:
            window = [c for c in self.closed_calls if c[0] > sec - self.window_size]
        if len(window) < self.min_calls:
            return False
        return self.over(sum(c[1] for c in window), sum(c[2] for c in window), len(window))

    def judge_probe(self, failed: bool, slow: bool) -> BreakerState | None:
        self.probe_results.append((failed, slow))
        n = self.probe_permits
        fails = sum(r[0] for r in self.probe_results)
        slows = sum(r[1] for r in self.probe_results)
        missing = n - len(self.probe_results)
        # resilience4j's verdict over all n probes; decided once the best and the worst
        # completions of the missing outcomes agree (the rates are monotone in them).
        if_all_good = OPEN if self.over(fails, slows, n) else CLOSED
        if_all_bad = OPEN if self.over(fails + missing, slows + missing, n) else CLOSED
        return if_all_good if if_all_good is if_all_bad else None


class BreakerMachine(RuleBasedStateMachine):
    model: Model
    breaker: CircuitBreaker

    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.in_flight: list[Call] = []
        self.manual = False

    def start(self, config: AnyBreakerConfig, model: Model, manual: bool) -> None:
        self.breaker = CircuitBreaker(config)
        self.model = model
        self.manual = manual

    def check_moves(self, transitions: list[Transition], expected: list[BreakerState]) -> None:
        assert [t.to_state for t in transitions] == expected
        for t in transitions:
            event(f"{t.from_state} -> {t.to_state}")
            assert t.at == self.now and t.reason
            if t.from_state is OPEN and t.to_state is HALF_OPEN:
                assert self.now - self.breaker.opened_at >= self.model.recovery_s

    @rule(dt=st.sampled_from([0.0, 0.25, 0.5, 1.0, 5.0]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @rule()
    def admit(self) -> None:
        was = self.model.state
        expected, moves = self.model.admit(self.now)
        permit, transitions = self.breaker.admit(self.now)
        self.check_moves(transitions, moves)
        assert permit.allowed == expected
        if was in (OPEN, FORCED_OPEN) and not moves:
            assert not permit.allowed, "admitted a call while open"
        if expected:
            self.in_flight.append(Call(permit, self.model.epoch, self.model.state is HALF_OPEN))

    @precondition(lambda self: bool(self.in_flight))
    @rule(
        data=st.data(),
        outcome=st.sampled_from(OUTCOMES),
        duration_s=st.sampled_from([0.0, SLOW_S, 2 * SLOW_S]),
    )
    def finish(self, data: st.DataObject, outcome: str, duration_s: float) -> None:
        call = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        slow = duration_s > SLOW_S and self.model_sees_durations()
        moves = self.model.finish(call, outcome, slow, self.now)
        transitions = self.breaker.record(call.permit, self.now, outcome, duration_s)
        self.check_moves(transitions, moves)

    @precondition(lambda self: self.manual)
    @rule(action=st.sampled_from(["force_open", "disable", "reset", "none", "none", "none", "none", "none"]))
    def operator(self, action: str) -> None:
        """In some runs, an operator now and then forces the breaker open, disables it or resets it."""
        if action == "none":
            return
        to = {"force_open": FORCED_OPEN, "disable": DISABLED, "reset": CLOSED}[action]
        expected = [] if self.model.state is to else [to]
        if expected:
            self.model.move(to, self.now)
        elif to is CLOSED:
            self.model.forget()
        self.check_moves(getattr(self.breaker, action)(self.now), expected)

    def model_sees_durations(self) -> bool:
        return isinstance(self.model, SlidingModel)

    @invariant()
    def in_the_models_state(self) -> None:
        if hasattr(self, "model"):
            assert self.breaker.state is self.model.state

    @invariant()
    def never_more_probes_than_permitted(self) -> None:
        if hasattr(self, "model"):
            assert self.breaker.probes_in_flight == self.model.probes <= self.model.max_probes
            assert self.model.probes_started <= self.model.probe_permits


class ConsecutiveMachine(BreakerMachine):
    @initialize(
        threshold=st.integers(1, 4),
        recovery_s=st.sampled_from([0.0, 1.0, 5.0]),
        successes=st.integers(1, 3),
        probes=st.integers(1, 3),
        counted=outcome_sets,
        manual=st.booleans(),
    )
    def configure(
        self,
        threshold: int,
        recovery_s: float,
        successes: int,
        probes: int,
        counted: frozenset[str],
        manual: bool,
    ) -> None:
        config = BreakerConfig(threshold, recovery_s, successes, probes, failure_outcomes=counted)
        model = ConsecutiveModel(
            recovery_s, probes, 10**9, counted, threshold=threshold, successes_needed=successes
        )
        self.start(config, model, manual)


class SlidingWindowMachine(BreakerMachine):
    @initialize(
        data=st.data(),
        window_type=st.sampled_from(["count", "time"]),
        window_size=st.integers(1, 6),
        fail_pct=st.sampled_from([20, 50, 60, 100]),
        slow_pct=st.sampled_from([25, 50, 100]),
        recovery_s=st.sampled_from([0.0, 1.0, 5.0]),
        permitted=st.integers(1, 4),
        probes=st.integers(1, 4),
        counted=outcome_sets,
        manual=st.booleans(),
    )
    def configure(
        self,
        data: st.DataObject,
        window_type: str,
        window_size: int,
        fail_pct: int,
        slow_pct: int,
        recovery_s: float,
        permitted: int,
        probes: int,
        counted: frozenset[str],
        manual: bool,
    ) -> None:
        min_calls = data.draw(st.integers(1, window_size if window_type == "count" else 8))
        config = SlidingWindowConfig(
            window_type=window_type,  # type: ignore[arg-type]
            window_size=window_size,
            minimum_number_of_calls=min_calls,
            failure_rate_threshold=fail_pct,
            slow_call_duration_s=SLOW_S,
            slow_call_rate_threshold=slow_pct,
            recovery_timeout_s=recovery_s,
            permitted_number_of_calls_in_half_open=permitted,
            half_open_max_calls=probes,
            failure_outcomes=counted,
        )
        model = SlidingModel(
            recovery_s,
            probes,
            permitted,
            counted,
            window_type=window_type,
            window_size=window_size,
            min_calls=min_calls,
            fail_pct=fail_pct,
            slow_pct=slow_pct,
        )
        self.start(config, model, manual)


_settings = settings(max_examples=250, stateful_step_count=100, deadline=None)
TestConsecutivePolicyAgainstItsModel = ConsecutiveMachine.TestCase
TestConsecutivePolicyAgainstItsModel.settings = _settings
TestSlidingWindowPolicyAgainstItsModel = SlidingWindowMachine.TestCase
TestSlidingWindowPolicyAgainstItsModel.settings = _settings

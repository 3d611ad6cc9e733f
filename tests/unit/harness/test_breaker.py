"""The count-based breaker: hand-written cases plus a state machine against a reference model."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from harness.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker, Permit

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def admitted(breaker: CircuitBreaker, now: float) -> Permit:
    permit, _ = breaker.admit(now)
    assert permit.allowed
    return permit


def trip(breaker: CircuitBreaker, now: float = 0.0) -> None:
    for _ in range(breaker.config.failure_threshold):
        breaker.on_failure(admitted(breaker, now), now)
    assert breaker.state is OPEN


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3))
    for _ in range(2):
        assert breaker.on_failure(admitted(breaker, 0.0), 0.0) == []
    transitions = breaker.on_failure(admitted(breaker, 0.0), 0.0, "timeout")
    assert [(t.from_state, t.to_state) for t in transitions] == [(CLOSED, OPEN)]
    assert "3 consecutive failures" in transitions[0].reason and "timeout" in transitions[0].reason


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3))
    for _ in range(2):
        breaker.on_failure(admitted(breaker, 0.0), 0.0)
    breaker.on_success(admitted(breaker, 0.0), 0.0)
    for _ in range(2):
        breaker.on_failure(admitted(breaker, 0.0), 0.0)
    assert breaker.state is CLOSED


def test_open_rejects_until_the_recovery_timeout_has_passed() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=10.0))
    trip(breaker, now=100.0)
    permit, transitions = breaker.admit(109.999)
    assert not permit.allowed and permit.state is OPEN and transitions == []
    permit, transitions = breaker.admit(110.0)
    assert permit.allowed and permit.probe
    assert [(t.from_state, t.to_state) for t in transitions] == [(OPEN, HALF_OPEN)]


def test_rejections_are_not_failures() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=10.0))
    trip(breaker)
    for _ in range(100):
        assert not breaker.admit(1.0)[0].allowed
    probe = admitted(breaker, 10.0)
    assert breaker.on_success(probe, 10.0)[0].to_state is CLOSED


def test_a_failure_in_half_open_reopens_at_once() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=5, recovery_timeout_s=1.0, success_threshold=3))
    trip(breaker)
    probe = admitted(breaker, 1.0)
    transitions = breaker.on_failure(probe, 1.0, "tool_error")
    assert [(t.from_state, t.to_state) for t in transitions] == [(HALF_OPEN, OPEN)]
    assert not breaker.admit(1.5)[0].allowed


def test_half_open_admits_at_most_the_permitted_probes() -> None:
    breaker = CircuitBreaker(
        BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0, half_open_max_calls=2)
    )
    trip(breaker)
    results = [breaker.admit(2.0)[0] for _ in range(10)]
    assert sum(p.allowed for p in results) == 2
    assert breaker.probes_in_flight == 2


def test_closes_after_success_threshold_probe_successes() -> None:
    breaker = CircuitBreaker(
        BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0, success_threshold=2, half_open_max_calls=1)
    )
    trip(breaker)
    assert breaker.on_success(admitted(breaker, 1.0), 1.0) == []
    assert breaker.state is HALF_OPEN
    assert breaker.on_success(admitted(breaker, 1.0), 1.0)[0].to_state is CLOSED


def test_a_cancelled_probe_frees_its_slot_without_moving_the_breaker() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0))
    trip(breaker)
    probe = admitted(breaker, 1.0)
    assert not breaker.admit(1.0)[0].allowed
    breaker.on_ignored(probe)
    assert breaker.state is HALF_OPEN
    assert breaker.admit(1.0)[0].allowed


def test_a_call_admitted_before_the_breaker_opened_does_not_move_it_later() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0))
    slow = admitted(breaker, 0.0)
    trip(breaker)
    probe = admitted(breaker, 1.0)
    assert breaker.on_success(slow, 1.0) == []
    assert breaker.on_failure(slow, 1.0) == []
    assert breaker.state is HALF_OPEN and breaker.probes_in_flight == 1
    assert breaker.on_success(probe, 1.0)[0].to_state is CLOSED


@pytest.mark.parametrize(
    "kwargs",
    [
        {"failure_threshold": 0},
        {"recovery_timeout_s": -1},
        {"success_threshold": 0},
        {"half_open_max_calls": 0},
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        BreakerConfig(**kwargs)  # type: ignore[arg-type]


@dataclass
class Model:
    """The breaker's rules written as plainly as possible."""

    threshold: int
    recovery: float
    successes_needed: int
    max_probes: int
    state: BreakerState = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probes: int = 0
    probe_successes: int = 0
    epoch: int = 0

    def move(self, to: BreakerState, now: float) -> None:
        self.state, self.failures, self.probes, self.probe_successes = to, 0, 0, 0
        self.epoch += 1
        if to is OPEN:
            self.opened_at = now


@dataclass
class InFlight:
    permit: Permit
    epoch: int
    probe: bool


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 0.0
        self.breaker: CircuitBreaker | None = None
        self.model: Model | None = None
        self.in_flight: list[InFlight] = []

    @precondition(lambda self: self.breaker is None)
    @rule(
        threshold=st.integers(1, 4),
        recovery=st.sampled_from([0.0, 1.0, 5.0]),
        successes=st.integers(1, 3),
        probes=st.integers(1, 3),
    )
    def configure(self, threshold: int, recovery: float, successes: int, probes: int) -> None:
        self.breaker = CircuitBreaker(BreakerConfig(threshold, recovery, successes, probes))
        self.model = Model(threshold, recovery, successes, probes)

    @precondition(lambda self: self.breaker is not None)
    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 5.0]))
    def advance(self, dt: float) -> None:
        self.now += dt

    @precondition(lambda self: self.breaker is not None)
    @rule()
    def admit(self) -> None:
        assert self.breaker is not None and self.model is not None
        m = self.model
        if m.state is OPEN and self.now - m.opened_at >= m.recovery:
            m.move(HALF_OPEN, self.now)
        if m.state is OPEN:
            expected = False
        elif m.state is HALF_OPEN:
            expected = m.probes < m.max_probes
        else:
            expected = True
        permit, _ = self.breaker.admit(self.now)
        assert permit.allowed == expected
        assert self.breaker.state is m.state
        if expected:
            probe = m.state is HALF_OPEN
            m.probes += probe
            self.in_flight.append(InFlight(permit, m.epoch, probe))

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data(), result=st.sampled_from(["success", "failure", "ignored"]))
    def finish(self, data: st.DataObject, result: str) -> None:
        assert self.breaker is not None and self.model is not None
        m = self.model
        call = self.in_flight.pop(data.draw(st.integers(0, len(self.in_flight) - 1)))
        current = call.epoch == m.epoch
        if result == "success":
            self.breaker.on_success(call.permit, self.now)
            if current and call.probe:
                m.probes -= 1
                m.probe_successes += 1
                if m.probe_successes >= m.successes_needed:
                    m.move(CLOSED, self.now)
            elif current:
                m.failures = 0
        elif result == "failure":
            self.breaker.on_failure(call.permit, self.now)
            if current and call.probe:
                m.move(OPEN, self.now)
            elif current:
                m.failures += 1
                if m.failures >= m.threshold:
                    m.move(OPEN, self.now)
        else:
            self.breaker.on_ignored(call.permit)
            if current and call.probe:
                m.probes -= 1
        assert self.breaker.state is m.state

    @invariant()
    def never_more_probes_than_permitted(self) -> None:
        if self.breaker is not None and self.model is not None:
            assert self.breaker.probes_in_flight <= self.model.max_probes
            assert self.breaker.probes_in_flight == self.model.probes


TestBreakerAgainstModel = BreakerMachine.TestCase
TestBreakerAgainstModel.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)

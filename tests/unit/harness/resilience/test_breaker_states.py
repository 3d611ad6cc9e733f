"""Manual states, outcome classification and the shared state machine, by hand."""

from __future__ import annotations

import pytest

from harness.resilience.breaker import BreakerConfig, CircuitBreaker, Permit
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState, Transition

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FORCED_OPEN, DISABLED = BreakerState.FORCED_OPEN, BreakerState.DISABLED


def admitted(breaker: CircuitBreaker, now: float = 0.0) -> Permit:
    permit, _ = breaker.admit(now)
    assert permit.allowed
    return permit


def moves(transitions: list[Transition]) -> list[tuple[BreakerState, BreakerState]]:
    return [(t.from_state, t.to_state) for t in transitions]


def test_forced_open_rejects_every_call_until_reset() -> None:
    breaker = CircuitBreaker(BreakerConfig(recovery_timeout_s=1.0))
    assert moves(breaker.force_open(5.0, "operator")) == [(CLOSED, FORCED_OPEN)]
    for now in (5.0, 100.0, 10_000.0):
        permit, transitions = breaker.admit(now)
        assert not permit.allowed and permit.state is FORCED_OPEN and transitions == []
    assert moves(breaker.reset(10_000.0)) == [(FORCED_OPEN, CLOSED)]
    assert breaker.admit(10_000.0)[0].allowed


def test_disabled_admits_every_call_and_never_trips() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1))
    assert moves(breaker.disable(0.0, "CIRCUIT_BREAKER=off")) == [(CLOSED, DISABLED)]
    for i in range(50):
        permit = admitted(breaker, float(i))
        assert permit.state is DISABLED
        assert breaker.on_failure(permit, float(i), "timeout") == []
    assert breaker.state is DISABLED


def test_manual_transitions_carry_the_reason_and_time_given() -> None:
    breaker = CircuitBreaker()
    [transition] = breaker.force_open(12.5, "maintenance window")
    assert (transition.at, transition.reason) == (12.5, "maintenance window")


def test_a_manual_transition_to_the_current_state_is_not_a_transition() -> None:
    breaker = CircuitBreaker()
    breaker.force_open(0.0)
    assert breaker.force_open(1.0) == []
    breaker.disable(2.0)
    assert breaker.disable(3.0) == []


def test_calls_admitted_before_a_manual_transition_do_not_move_the_breaker() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1))
    stale = admitted(breaker)
    breaker.disable(1.0)
    breaker.reset(2.0)
    assert breaker.on_failure(stale, 3.0) == []
    assert breaker.state is CLOSED


def test_reset_closes_an_open_breaker_at_once() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=60.0))
    breaker.on_failure(admitted(breaker), 0.0)
    assert moves(breaker.reset(1.0, "operator closed it")) == [(OPEN, CLOSED)]
    assert breaker.admit(1.0)[0].allowed


def test_reset_of_a_closed_breaker_forgets_the_counted_failures() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3))
    for _ in range(2):
        breaker.on_failure(admitted(breaker), 0.0)
    assert breaker.reset(0.0) == []
    for _ in range(2):
        breaker.on_failure(admitted(breaker), 0.0)
    assert breaker.state is CLOSED


@pytest.mark.parametrize("policy", ["consecutive", "sliding"])
def test_record_counts_only_the_configured_failure_outcomes(policy: str) -> None:
    counted = frozenset({"transport_error"})
    config = (
        BreakerConfig(failure_threshold=2, failure_outcomes=counted)
        if policy == "consecutive"
        else SlidingWindowConfig(window_size=2, minimum_number_of_calls=2, failure_outcomes=counted)
    )
    breaker = CircuitBreaker(config)
    for outcome in ("tool_error", "timeout", "cancelled", "rejected_open", "tool_error", "timeout"):
        assert breaker.record(admitted(breaker), 0.0, outcome) == []
    breaker.record(admitted(breaker), 0.0, "transport_error")
    [transition] = breaker.record(admitted(breaker), 0.0, "transport_error", cause="connection refused")
    assert transition.to_state is OPEN and "connection refused" in transition.reason


def test_a_cancelled_probe_never_counts_and_frees_its_slot() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0))
    breaker.on_failure(admitted(breaker), 0.0)
    probe = admitted(breaker, 1.0)
    assert not breaker.admit(1.0)[0].allowed
    assert breaker.record(probe, 1.0, "cancelled") == []
    assert breaker.state is HALF_OPEN and breaker.probes_in_flight == 0
    assert breaker.admit(1.0)[0].allowed


def test_the_consecutive_policy_ignores_durations() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1))
    for _ in range(10):
        assert breaker.on_success(admitted(breaker), 0.0, duration_s=3600.0) == []


def test_permits_are_tied_to_their_state_generation() -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0))
    first = admitted(breaker)
    assert first.generation == breaker.generation == 0
    breaker.on_failure(first, 0.0)
    probe = admitted(breaker, 1.0)
    assert probe.probe and probe.state is HALF_OPEN and probe.generation == 2


@pytest.mark.parametrize("outcomes", [{"rejected_open"}, {"cancelled"}, {"pool_timeout"}, {"ok"}])
def test_config_refuses_failure_outcomes_that_say_nothing_about_the_server(outcomes: set[str]) -> None:
    with pytest.raises(ValueError, match="failure_outcomes"):
        BreakerConfig(failure_outcomes=frozenset(outcomes))
    with pytest.raises(ValueError, match="failure_outcomes"):
        SlidingWindowConfig(failure_outcomes=frozenset(outcomes))

"""The sliding-window policy, case by case (after resilience4j's CircuitBreakerStateMachineTest)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.resilience.breaker import CircuitBreaker, Permit
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState
from harness.resilience.window import CountWindow, TimeWindow

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def breaker(**kwargs: Any) -> CircuitBreaker:
    defaults: dict[str, Any] = {"window_size": 5, "minimum_number_of_calls": 5, "recovery_timeout_s": 10.0}
    return CircuitBreaker(SlidingWindowConfig(**(defaults | kwargs)))


def admitted(cb: CircuitBreaker, now: float = 0.0) -> Permit:
    permit, _ = cb.admit(now)
    assert permit.allowed
    return permit


def calls(cb: CircuitBreaker, pattern: str, now: float = 0.0, duration_s: float = 0.0) -> list[Any]:
    """Run one call per letter: ``s`` success, ``f`` failure; returns the transitions."""
    out = []
    for letter in pattern:
        permit = admitted(cb, now)
        if letter == "s":
            out += cb.on_success(permit, now, duration_s)
        else:
            out += cb.on_failure(permit, now, "timeout", duration_s)
    return out


def trip(cb: CircuitBreaker) -> None:
    calls(cb, "fffff")
    assert cb.state is OPEN


def test_opens_when_the_failure_rate_reaches_the_threshold_over_the_window() -> None:
    cb = breaker(failure_rate_threshold=60.0)
    assert calls(cb, "ssff") == []
    [transition] = calls(cb, "f")
    assert transition.to_state is OPEN
    assert "failure rate 60.0% >= 60%" in transition.reason and "count window of 5 calls" in transition.reason


def test_stays_closed_while_the_failure_rate_is_below_the_threshold() -> None:
    cb = breaker(failure_rate_threshold=60.0)
    assert calls(cb, "sssff" * 10) == []
    assert cb.state is CLOSED


def test_does_not_open_before_the_minimum_number_of_calls() -> None:
    cb = breaker(window_size=10, minimum_number_of_calls=4)
    assert calls(cb, "fff") == []
    assert calls(cb, "f")[0].to_state is OPEN


def test_old_failures_leave_a_count_window_after_window_size_newer_calls() -> None:
    cb = breaker(window_size=4, minimum_number_of_calls=4, failure_rate_threshold=75.0)
    assert calls(cb, "ffss") == []  # 50%
    assert calls(cb, "ff") == []  # window is now s s f f: 50%
    assert calls(cb, "f")[0].to_state is OPEN  # s f f f: 75%


def test_opens_when_the_slow_call_rate_reaches_its_threshold_even_if_every_call_succeeds() -> None:
    cb = breaker(slow_call_duration_s=2.0, slow_call_rate_threshold=40.0)
    assert calls(cb, "sss", duration_s=2.0) == []  # exactly the threshold is not slow
    calls(cb, "s", duration_s=2.5)
    [transition] = calls(cb, "s", duration_s=2.5)
    assert transition.to_state is OPEN and transition.reason.startswith("slow-call rate 40.0% >= 40%")


def test_a_time_window_forgets_calls_older_than_its_size() -> None:
    cb = breaker(window_type="time", window_size=10, minimum_number_of_calls=3, failure_rate_threshold=100.0)
    calls(cb, "ff", now=0.5)
    assert calls(cb, "f", now=10.0) == []  # the bucket of second 0 has left the window
    assert calls(cb, "f", now=10.9) == []
    [transition] = calls(cb, "f", now=11.2)
    assert transition.to_state is OPEN and "time window of 10 s" in transition.reason


def test_half_open_admits_only_the_permitted_number_of_calls_in_all() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=3, half_open_max_calls=2, failure_rate_threshold=50.0)
    trip(cb)
    first, second = admitted(cb, 10.0), admitted(cb, 10.0)
    assert not cb.admit(10.0)[0].allowed  # two in flight at most
    assert cb.on_failure(first, 10.0) == []  # 1 of 3 failed: undecided
    third = admitted(cb, 10.0)
    assert not cb.admit(10.0)[0].allowed  # all three permits used, though only two are in flight
    assert cb.on_success(second, 10.0) == []
    assert cb.on_success(third, 10.0)[0].to_state is CLOSED


def test_half_open_evaluates_the_permitted_calls_as_a_rate() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=4, half_open_max_calls=4, failure_rate_threshold=50.0)
    trip(cb)
    probes = [admitted(cb, 10.0) for _ in range(4)]
    assert not cb.admit(10.0)[0].allowed
    assert cb.on_failure(probes[0], 10.0) == []
    assert cb.on_success(probes[1], 10.0) == []
    assert cb.on_success(probes[2], 10.0) == []  # the last could still make it 2 of 4 = 50%
    [transition] = cb.on_success(probes[3], 10.0)
    assert transition.to_state is CLOSED and "4 of 4 half-open probes judged" in transition.reason


def test_half_open_closes_as_soon_as_the_missing_probes_cannot_reach_the_threshold() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=4, half_open_max_calls=4, failure_rate_threshold=75.0)
    trip(cb)
    probes = [admitted(cb, 10.0) for _ in range(4)]
    assert cb.on_success(probes[0], 10.0) == []
    assert cb.on_success(probes[1], 10.0)[0].to_state is CLOSED  # at most 2 of 4 = 50% could fail


def test_half_open_reopens_as_soon_as_the_probe_failure_rate_must_reach_the_threshold() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=4, half_open_max_calls=4, failure_rate_threshold=50.0)
    trip(cb)
    probes = [admitted(cb, 10.0) for _ in range(4)]
    assert cb.on_failure(probes[0], 10.0) == []
    [transition] = cb.on_failure(probes[1], 10.0, "transport_error")
    assert transition.to_state is OPEN
    assert transition.reason == "2 of 4 half-open probes failed (>= 50% of 4); last: transport_error"
    assert cb.on_success(probes[2], 10.0) == []  # the rest are from a finished period


def test_a_cancelled_probe_gives_its_permit_back() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=1, half_open_max_calls=1)
    trip(cb)
    probe = admitted(cb, 10.0)
    cb.on_ignored(probe)
    assert cb.state is HALF_OPEN
    assert cb.on_success(admitted(cb, 10.0), 10.0)[0].to_state is CLOSED


def test_closing_starts_a_fresh_window() -> None:
    cb = breaker(permitted_number_of_calls_in_half_open=1)
    trip(cb)
    cb.on_success(admitted(cb, 10.0), 10.0)
    assert calls(cb, "ffff", now=10.0) == []
    assert cb.state is CLOSED


def test_count_window_keeps_running_totals_of_the_last_calls() -> None:
    window = CountWindow(3)
    for failed, slow in [(True, False), (False, True), (True, True), (False, False)]:
        window.record(failed, slow, 0.0)
    assert (window.total, window.failures, window.slow) == (3, 1, 2)


def test_time_window_expires_whole_seconds() -> None:
    window = TimeWindow(2)
    window.record(True, False, 0.1)
    window.record(True, True, 1.9)
    window.advance(2.0)
    assert (window.total, window.failures, window.slow) == (1, 1, 1)
    window.advance(500.0)
    assert window.total == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"window_type": "sliding"}, "window_type"),
        ({"window_size": 0}, "window_size"),
        ({"minimum_number_of_calls": 0}, "minimum_number_of_calls"),
        ({"window_size": 5, "minimum_number_of_calls": 6}, "minimum_number_of_calls"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 101}, "failure_rate_threshold"),
        ({"slow_call_rate_threshold": 0}, "slow_call_rate_threshold"),
        ({"slow_call_duration_s": 0}, "slow_call_duration_s"),
        ({"recovery_timeout_s": -1}, "recovery_timeout_s"),
        ({"permitted_number_of_calls_in_half_open": 0}, "permitted_number_of_calls_in_half_open"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        SlidingWindowConfig(**kwargs)


def test_a_time_window_may_need_more_calls_than_its_size_in_seconds() -> None:
    config = SlidingWindowConfig(window_type="time", window_size=5, minimum_number_of_calls=50)
    assert config.minimum_number_of_calls == 50

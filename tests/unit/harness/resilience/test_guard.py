"""The asyncio wrapper with real tasks: concurrency in half-open, cancellations, published transitions."""

from __future__ import annotations

import asyncio

import pytest

from harness.resilience.breaker import AnyBreakerConfig, BreakerConfig, CircuitBreaker
from harness.resilience.errors import BreakerOpenError, CallTimeoutError
from harness.resilience.guard import BreakerGuard
from harness.resilience.sliding_window import SlidingWindowConfig
from harness.resilience.states import BreakerState, Transition

from .fakes import FakeClock, until

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class Boom(Exception):
    outcome = "transport_error"


async def fail() -> None:
    raise Boom("connection refused")


def guard_for(
    config: AnyBreakerConfig, clock: FakeClock, seen: list[Transition] | None = None
) -> BreakerGuard:
    on_transition = seen.append if seen is not None else None
    return BreakerGuard(CircuitBreaker(config), name="weather", clock=clock, on_transition=on_transition)


async def trip(guard: BreakerGuard) -> None:
    while guard.breaker.state is not OPEN:
        with pytest.raises(Boom):
            await guard.call(fail)


@pytest.mark.parametrize(
    ("config", "permitted"),
    [
        (
            BreakerConfig(
                failure_threshold=2, recovery_timeout_s=5.0, success_threshold=3, half_open_max_calls=3
            ),
            3,
        ),
        (
            SlidingWindowConfig(
                window_size=2,
                minimum_number_of_calls=2,
                recovery_timeout_s=5.0,
                permitted_number_of_calls_in_half_open=4,
                half_open_max_calls=10,
            ),
            4,
        ),
    ],
    ids=["consecutive", "sliding-window"],
)
async def test_concurrent_callers_in_half_open_let_exactly_the_permitted_number_through(
    config: AnyBreakerConfig, permitted: int
) -> None:
    clock = FakeClock()
    seen: list[Transition] = []
    guard = guard_for(config, clock, seen)
    await trip(guard)
    clock.advance(5.0)
    release = asyncio.Event()
    entered: list[int] = []
    rejected: list[int] = []

    async def held_call(i: int) -> int:
        entered.append(i)
        await release.wait()
        return i

    async def caller(i: int) -> int | None:
        try:
            return await guard.call(held_call, i)
        except BreakerOpenError as exc:
            assert exc.outcome == "rejected_open" and exc.state == HALF_OPEN
            rejected.append(i)
            return None

    async with asyncio.timeout(5):
        tasks = [asyncio.create_task(caller(i)) for i in range(25)]
        await until(lambda: len(entered) + len(rejected) == 25)
        assert len(entered) == permitted and guard.breaker.probes_in_flight == permitted
        release.set()
        results = await asyncio.gather(*tasks)
    assert sorted(r for r in results if r is not None) == sorted(entered)
    assert guard.breaker.state is CLOSED
    assert [(t.from_state, t.to_state) for t in seen] == [
        (CLOSED, OPEN),
        (OPEN, HALF_OPEN),
        (HALF_OPEN, CLOSED),
    ]


async def test_a_rejected_call_is_never_started() -> None:
    guard = guard_for(BreakerConfig(failure_threshold=1, recovery_timeout_s=5.0), FakeClock())
    await trip(guard)
    started = []

    async def call() -> None:
        started.append(1)

    with pytest.raises(BreakerOpenError, match="circuit breaker weather is open"):
        await guard.call(call)
    assert started == []


async def test_a_cancelled_call_does_not_count_and_frees_its_probe_slot() -> None:
    clock = FakeClock()
    guard = guard_for(BreakerConfig(failure_threshold=1, recovery_timeout_s=1.0), clock)
    await trip(guard)
    clock.advance(1.0)
    entered = asyncio.Event()

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    async with asyncio.timeout(5):
        task = asyncio.create_task(guard.call(hang))
        await entered.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert guard.breaker.state is HALF_OPEN and guard.breaker.probes_in_flight == 0


@pytest.mark.parametrize(
    ("counted", "opens"), [(frozenset({"timeout"}), True), (frozenset({"tool_error"}), False)]
)
async def test_timeouts_count_only_when_the_config_counts_them(counted: frozenset[str], opens: bool) -> None:
    guard = guard_for(BreakerConfig(failure_threshold=1, failure_outcomes=counted), FakeClock())

    async def too_slow() -> None:
        raise CallTimeoutError(5.0)

    with pytest.raises(CallTimeoutError):
        await guard.call(too_slow)
    assert (guard.breaker.state is OPEN) == opens


async def test_slow_successes_open_a_sliding_window_breaker_by_the_injected_clock() -> None:
    clock = FakeClock()
    seen: list[Transition] = []
    config = SlidingWindowConfig(
        window_size=2, minimum_number_of_calls=2, slow_call_duration_s=1.0, slow_call_rate_threshold=100.0
    )
    guard = guard_for(config, clock, seen)

    async def slow_ok() -> str:
        clock.advance(1.5)
        return "ok"

    assert await guard.call(slow_ok) == "ok"
    assert await guard.call(slow_ok) == "ok"
    assert [t.to_state for t in seen] == [OPEN]
    assert seen[0].at == 3.0 and seen[0].reason.startswith("slow-call rate 100.0%")


def test_call_sync_runs_a_synchronous_function_through_the_breaker() -> None:
    guard = guard_for(BreakerConfig(failure_threshold=2), FakeClock())
    assert guard.call_sync(lambda x: x + 1, 1) == 2

    def broken() -> None:
        raise Boom("no route")

    for _ in range(2):
        with pytest.raises(Boom):
            guard.call_sync(broken)
    with pytest.raises(BreakerOpenError):
        guard.call_sync(lambda: None)


def test_settle_reports_a_call_the_caller_ran_itself() -> None:
    clock = FakeClock()
    guard = guard_for(BreakerConfig(failure_threshold=1), clock)
    permit, _ = guard.breaker.admit(clock())
    guard.settle(permit, 0.0, "timeout", "no answer within 5s")
    assert guard.breaker.state is OPEN


async def test_a_call_admitted_while_closed_that_succeeds_after_the_breaker_opened_does_not_close_it() -> (
    None
):
    clock = FakeClock()
    guard = guard_for(BreakerConfig(failure_threshold=1, recovery_timeout_s=60.0), clock)
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow_ok() -> str:
        entered.set()
        await release.wait()
        return "late"

    async with asyncio.timeout(5):
        task = asyncio.create_task(guard.call(slow_ok))
        await entered.wait()
        await trip(guard)
        release.set()
        assert await task == "late"
    assert guard.breaker.state is OPEN


async def test_a_disabled_breaker_runs_every_call_and_never_opens() -> None:
    seen: list[Transition] = []
    guard = guard_for(BreakerConfig(failure_threshold=1), FakeClock(), seen)
    guard.breaker.disable(0.0, "CIRCUIT_BREAKER=off")
    for _ in range(10):
        with pytest.raises(Boom):
            await guard.call(fail)
    assert guard.breaker.state is BreakerState.DISABLED and seen == []

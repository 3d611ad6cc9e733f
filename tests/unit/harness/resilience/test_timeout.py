"""Call timeouts cut to the caller's deadline; the timeout helper on an injected timer."""

from __future__ import annotations

import asyncio

import pytest

from harness.resilience.errors import CallTimeoutError
from harness.resilience.outcomes import outcome_of
from harness.resilience.timeout import attempt_timeout_s, remaining_s, with_timeout

from .fakes import ManualTimers


@pytest.mark.parametrize(
    ("call_timeout_s", "deadline", "now", "expected"),
    [
        (5.0, None, 0.0, 5.0),
        (5.0, 10.0, 8.0, 2.0),
        (5.0, 10.0, 2.0, 5.0),
        (None, 10.0, 4.0, 6.0),
        (None, None, 0.0, None),
        (5.0, 10.0, 12.0, 0.0),
    ],
)
def test_an_attempt_gets_the_call_timeout_cut_to_the_deadline(
    call_timeout_s: float | None, deadline: float | None, now: float, expected: float | None
) -> None:
    assert attempt_timeout_s(call_timeout_s, deadline, now) == expected


def test_remaining_time_is_never_negative() -> None:
    assert remaining_s(10.0, 11.0) == 0.0 and remaining_s(None, 11.0) is None


async def test_a_call_that_outlasts_its_timer_is_cancelled_and_times_out() -> None:
    timers = ManualTimers()
    cancelled = asyncio.Event()

    async def hang() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with asyncio.timeout(5):
        task = asyncio.create_task(with_timeout(hang(), 2.5, timer=timers))
        await timers.started.wait()
        assert [t.delay_s for t in timers.timers] == [2.5]
        timers.timers[0].fire()
        with pytest.raises(CallTimeoutError, match=r"no answer within 2.5s") as info:
            await task
    assert cancelled.is_set()
    assert outcome_of(info.value) == "timeout" and isinstance(info.value, TimeoutError)


async def test_a_call_that_answers_first_returns_its_result() -> None:
    timers = ManualTimers()

    async def quick() -> str:
        return "answer"

    async with asyncio.timeout(5):
        assert await with_timeout(quick(), 2.5, timer=timers) == "answer"


async def test_on_the_loop_clock_a_zero_timeout_expires_before_a_hung_call_answers() -> None:
    async with asyncio.timeout(5):
        with pytest.raises(CallTimeoutError):
            await with_timeout(asyncio.Event().wait(), 0.0)


async def test_a_timeout_error_raised_by_the_call_itself_passes_through() -> None:
    async def inner_timeout() -> None:
        raise TimeoutError("the session's own read timeout")

    with pytest.raises(TimeoutError, match="own read timeout") as info:
        await with_timeout(inner_timeout(), 10.0)
    assert not isinstance(info.value, CallTimeoutError)


async def test_no_timeout_awaits_the_call_as_it_is() -> None:
    async def value() -> int:
        return 7

    assert await with_timeout(value(), None) == 7

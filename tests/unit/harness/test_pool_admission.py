"""SessionPool admission when full: a woken waiter that loses the race waits again."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import anyio
import pytest

from harness.connection import StdioTarget
from harness.pool import PoolConfig, PoolExhaustedError, SessionPool


@dataclass
class _LiveConnection:
    """Stands in for an open McpConnection: admission only reads ``alive``."""

    alive: bool = True


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _full_pool(clock: _Clock, acquire_timeout_s: float = 5.0) -> SessionPool:
    pool = SessionPool(
        "weather",
        StdioTarget("unused"),
        PoolConfig(
            size=1, max_in_flight_per_session=1, acquire_timeout_s=acquire_timeout_s, health_interval_s=0
        ),
        monotonic=clock,
    )
    pool._started = True
    pool._slots[0].conn = _LiveConnection()  # type: ignore[assignment]
    return pool


async def _until_waiting(pool: SessionPool, waiters: int) -> None:
    with anyio.fail_after(5):
        while pool.metrics()["waiters"] != waiters:
            await asyncio.sleep(0)


class _RacingCondition(asyncio.Condition):
    """A Condition whose first successful wait lets another caller take the room before the
    waiter picks it: the window between ``wait_for`` returning and the waiter's own pick."""

    def __init__(self, pool: SessionPool) -> None:
        super().__init__()
        self.pool = pool
        self.taken: list[object] = []

    async def wait_for(self, predicate):  # type: ignore[no-untyped-def]
        result = await super().wait_for(predicate)
        if not self.taken:
            slot = self.pool._pick()  # what _acquire's fast path does for a caller that never waited
            assert slot is not None
            slot.reserved += 1
            self.taken.append(slot)
        return result


async def test_a_woken_waiter_whose_room_was_taken_waits_again_instead_of_failing() -> None:
    pool = _full_pool(_Clock())
    racing = _RacingCondition(pool)
    pool._capacity = racing
    first = await pool._acquire()
    waiter = asyncio.ensure_future(pool._acquire())
    await _until_waiting(pool, 1)

    await pool._release(first)  # wakes the waiter, whose room the racing caller takes first
    with anyio.fail_after(5):
        while not racing.taken:
            await asyncio.sleep(0)
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiter.done(), f"the waiter did not wait again: {waiter}"
    assert pool.metrics()["waiters"] == 1

    await pool._release(racing.taken[0])  # type: ignore[arg-type]
    with anyio.fail_after(5):
        admitted = await waiter
    assert admitted is first and admitted.reserved == 1
    assert pool.stats.exhausted == 0


async def test_the_wait_again_is_bounded_by_the_time_left_of_the_acquire_timeout() -> None:
    clock = _Clock()
    pool = _full_pool(clock, acquire_timeout_s=5.0)
    racing = _RacingCondition(pool)
    pool._capacity = racing
    first = await pool._acquire()
    waiter = asyncio.ensure_future(pool._acquire())
    await _until_waiting(pool, 1)

    clock.now = 6.0  # the whole acquire timeout has passed while it waited
    await pool._release(first)

    with anyio.fail_after(5), pytest.raises(PoolExhaustedError, match="1 live session"):
        await waiter
    assert pool.stats.exhausted == 1 and pool.metrics()["waiters"] == 0
    assert racing.taken == [first] and first.reserved == 1

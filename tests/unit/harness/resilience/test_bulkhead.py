"""The bulkhead: slots, a FIFO wait queue, pool_timeout refusals. Waits expire when the test says."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.resilience.bulkhead import Admission, Bulkhead, BulkheadConfig, BulkheadCore
from harness.resilience.errors import PoolTimeoutError
from harness.resilience.outcomes import outcome_of

from .fakes import ManualTimers, until


def bulkhead(timers: ManualTimers, **kwargs: float) -> Bulkhead:
    return Bulkhead(BulkheadConfig(**kwargs), name="weather", sleep=timers)  # type: ignore[arg-type]


async def test_calls_within_the_limit_enter_at_once_without_a_timer() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=3)
    for _ in range(3):
        await bh.acquire()
    assert bh.in_use == 3 and timers.timers == []


async def test_a_waiter_gets_a_slot_released_before_its_wait_expires() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=1, max_wait_s=2.0)
    await bh.acquire()
    async with asyncio.timeout(5):
        waiter = asyncio.create_task(bh.acquire())
        await until(lambda: bh.waiting == 1)
        bh.release()
        await waiter
    assert bh.in_use == 1 and bh.waiting == 0
    assert [t.delay_s for t in timers.timers] == [2.0]


async def test_a_waiter_is_refused_with_pool_timeout_when_its_wait_expires() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=1, max_wait_s=0.5)
    await bh.acquire()
    async with asyncio.timeout(5):
        waiter = asyncio.create_task(bh.acquire())
        await timers.started.wait()
        timers.timers[0].fire()
        with pytest.raises(PoolTimeoutError) as info:
            await waiter
    assert outcome_of(info.value) == "pool_timeout" and info.value.reason == "wait_expired"
    assert "no slot of 1 freed within 0.5s" in str(info.value)
    assert bh.waiting == 0 and bh.in_use == 1


async def test_a_caller_is_refused_at_once_when_the_queue_is_full() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=1, max_queue=2)
    await bh.acquire()
    async with asyncio.timeout(5):
        waiters = [asyncio.create_task(bh.acquire()) for _ in range(2)]
        await until(lambda: bh.waiting == 2)
        with pytest.raises(PoolTimeoutError) as info:
            await bh.acquire()
        assert info.value.reason == "queue_full" and outcome_of(info.value) == "pool_timeout"
        for _ in waiters:
            bh.release()
        await asyncio.gather(*waiters)


async def test_with_no_queue_a_full_bulkhead_refuses_at_once() -> None:
    bh = bulkhead(ManualTimers(), max_concurrent=1, max_queue=0)
    await bh.acquire()
    with pytest.raises(PoolTimeoutError, match="queue_full"):
        await bh.acquire()


async def test_released_slots_go_to_waiters_in_arrival_order_not_to_newcomers() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=1)
    await bh.acquire()
    order: list[int] = []

    async def use(i: int) -> None:
        async with bh:
            order.append(i)

    async with asyncio.timeout(5):
        tasks = [asyncio.create_task(use(i)) for i in range(3)]
        await until(lambda: bh.waiting == 3)
        bh.release()
        late = asyncio.create_task(use(99))
        await asyncio.gather(*tasks, late)
    assert order == [0, 1, 2, 99]
    assert bh.in_use == 0 and bh.waiting == 0


async def test_a_cancelled_waiter_leaves_the_queue() -> None:
    bh = bulkhead(ManualTimers(), max_concurrent=1)
    await bh.acquire()
    async with asyncio.timeout(5):
        waiter = asyncio.create_task(bh.acquire())
        await until(lambda: bh.waiting == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert bh.waiting == 0
    bh.release()
    assert bh.in_use == 0


async def test_a_slot_handed_over_as_the_wait_expires_is_kept() -> None:
    timers = ManualTimers()
    bh = bulkhead(timers, max_concurrent=1)
    await bh.acquire()
    async with asyncio.timeout(5):
        waiter = asyncio.create_task(bh.acquire())
        await timers.started.wait()
        timers.timers[0].fire()
        bh.release()  # in the same loop turn as the timer
        await waiter
    assert bh.in_use == 1 and bh.waiting == 0


async def test_the_slot_is_released_when_the_call_fails() -> None:
    bh = bulkhead(ManualTimers(), max_concurrent=1)
    with pytest.raises(RuntimeError):
        async with bh:
            raise RuntimeError("tool blew up")
    assert bh.in_use == 0


@given(ops=st.lists(st.sampled_from(["request", "release", "leave"]), max_size=60))
def test_the_core_never_exceeds_its_slots_or_its_queue(ops: list[str]) -> None:
    core = BulkheadCore(BulkheadConfig(max_concurrent=2, max_queue=3))
    holders = waiters = 0
    for op in ops:
        if op == "request":
            full = holders == 2 and waiters == 3
            admission = core.request()
            assert (admission is Admission.QUEUE_FULL) == full
            holders += admission is Admission.ENTER
            waiters += admission is Admission.WAIT
        elif op == "release" and holders:
            if core.release():
                waiters -= 1
            else:
                holders -= 1
        elif op == "leave" and waiters:
            core.leave_queue()
            waiters -= 1
        assert core.in_use == holders <= 2 and core.waiting == waiters <= 3
        assert waiters == 0 or holders == 2  # nobody waits while a slot is free


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_queue": -1}, "max_queue"),
        ({"max_wait_s": -1}, "max_wait_s"),
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BulkheadConfig(**kwargs)  # type: ignore[arg-type]

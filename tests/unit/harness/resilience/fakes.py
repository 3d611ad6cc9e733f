"""Test doubles: a hand-advanced clock, recorded sleeps, timers the test fires, a loop yield."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field


class FakeClock:
    """A monotonic clock advanced by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, dt: float) -> None:
        self.now += dt


class RecordedSleeps:
    """An ``asyncio.sleep`` that records each delay, moves the fake clock and returns at once."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.delays: list[float] = []
        self._clock = clock

    async def __call__(self, delay_s: float) -> None:
        self.delays.append(delay_s)
        if self._clock is not None:
            self._clock.advance(delay_s)


@dataclass
class Timer:
    delay_s: float
    fired: asyncio.Event = field(default_factory=asyncio.Event)

    def fire(self) -> None:
        self.fired.set()


class ManualTimers:
    """An injected sleep that returns only when the test fires that timer."""

    def __init__(self) -> None:
        self.timers: list[Timer] = []
        self.started = asyncio.Event()

    async def __call__(self, delay_s: float) -> None:
        timer = Timer(delay_s)
        self.timers.append(timer)
        self.started.set()
        await timer.fired.wait()


async def yield_to_loop() -> None:
    """Let every ready task run one step (no clock involved)."""
    loop = asyncio.get_running_loop()
    fut = loop.create_future()
    loop.call_soon(fut.set_result, None)
    await fut


async def until(predicate: Callable[[], bool], *, max_turns: int = 200) -> None:
    """Run the loop turn by turn until ``predicate`` holds; fail after ``max_turns`` turns."""
    for _ in range(max_turns):
        if predicate():
            return
        await yield_to_loop()
    raise AssertionError(f"condition not reached within {max_turns} loop turns")

"""Call timeouts and caller deadlines.

A *timeout* bounds one attempt (``call_timeout_s``, the seeds' ``REQUEST_TIMEOUT``
/ ``WEATHER_SERVER_TIMEOUT``); a *deadline* is the absolute time (on the
monotonic clock) by which the caller needs an answer, across every attempt and
backoff. An attempt gets whichever ends first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from harness.resilience.errors import CallTimeoutError

__all__ = ["Sleep", "attempt_timeout_s", "remaining_s", "with_timeout"]

T = TypeVar("T")

#: An injectable ``asyncio.sleep``: tests pass one that waits on an event instead of the clock.
Sleep = Callable[[float], Awaitable[None]]


def remaining_s(deadline: float | None, now: float) -> float | None:
    """Seconds left before ``deadline`` (never negative); ``None`` when there is no deadline."""
    return None if deadline is None else max(0.0, deadline - now)


def attempt_timeout_s(call_timeout_s: float | None, deadline: float | None, now: float) -> float | None:
    """The timeout for an attempt starting at ``now``: the call timeout, cut to the deadline."""
    left = remaining_s(deadline, now)
    if left is None:
        return call_timeout_s
    return left if call_timeout_s is None else min(call_timeout_s, left)


async def with_timeout(aw: Awaitable[T], timeout_s: float | None, *, timer: Sleep | None = None) -> T:
    """Await ``aw`` for at most ``timeout_s`` seconds (``None``: no limit).

    Raises :class:`CallTimeoutError` (a ``TimeoutError`` with outcome
    ``timeout``) when the time runs out; the awaitable is cancelled first. A
    ``TimeoutError`` raised by ``aw`` itself passes through unchanged. With
    ``timer`` (an injected sleep) the limit is a race against ``timer(timeout_s)``
    instead of the event loop's clock, so tests decide when time is up.
    """
    if timeout_s is None:
        return await aw
    if timer is None:
        scope = asyncio.timeout(timeout_s)
        try:
            async with scope:
                return await aw
        except TimeoutError as exc:
            if scope.expired():
                raise CallTimeoutError(timeout_s) from exc
            raise
    task = asyncio.ensure_future(aw)
    clock = asyncio.ensure_future(timer(timeout_s))
    try:
        await asyncio.wait((task, clock), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        clock.cancel()
        raise
    if task.done():
        clock.cancel()
        return task.result()
    task.cancel()
    await asyncio.wait((task,))
    raise CallTimeoutError(timeout_s)

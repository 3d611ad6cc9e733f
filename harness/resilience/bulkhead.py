"""A bulkhead: at most ``max_concurrent`` calls in flight per server, a bounded queue for the rest.

The seeds' ``CONNECTION_POOL_SIZE`` is ``max_concurrent``. A caller that finds
every slot taken waits in a FIFO queue of at most ``max_queue`` callers for at
most ``max_wait_s`` seconds. It is refused with :class:`PoolTimeoutError`
(outcome ``pool_timeout``) either at once, when the queue is full
(``reason="queue_full"``), or when its wait expires (``reason="wait_expired"``).
A released slot passes straight to the oldest waiter, so a newcomer cannot
overtake the queue.

:class:`BulkheadCore` makes the decisions from two counters;
:class:`Bulkhead` adds the waiting (futures, and an injected sleep as the wait timer).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from types import TracebackType

from harness.resilience.errors import PoolTimeoutError
from harness.resilience.timeout import Sleep

__all__ = ["Admission", "Bulkhead", "BulkheadConfig", "BulkheadCore"]


@dataclass(frozen=True, slots=True)
class BulkheadConfig:
    """Bulkhead settings. Raises ``ValueError`` when out of range."""

    max_concurrent: int = 10
    max_queue: int = 100
    max_wait_s: float = 1.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {self.max_concurrent}")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {self.max_queue}")
        if not self.max_wait_s >= 0:
            raise ValueError(f"max_wait_s must be >= 0, got {self.max_wait_s}")


class Admission(StrEnum):
    ENTER = "enter"
    WAIT = "wait"
    QUEUE_FULL = "queue_full"


class BulkheadCore:
    """Slot and queue accounting; every method is a decision, none waits."""

    __slots__ = ("config", "in_use", "waiting")

    def __init__(self, config: BulkheadConfig) -> None:
        self.config = config
        self.in_use = 0
        self.waiting = 0

    def request(self) -> Admission:
        """A caller asks for a slot: enter now, wait in the queue, or be refused."""
        if self.in_use < self.config.max_concurrent and self.waiting == 0:
            self.in_use += 1
            return Admission.ENTER
        if self.waiting < self.config.max_queue and self.config.max_wait_s > 0:
            self.waiting += 1
            return Admission.WAIT
        return Admission.QUEUE_FULL

    def release(self) -> bool:
        """A slot is given back; returns whether it passes to the oldest waiter."""
        if self.waiting > 0:
            self.waiting -= 1
            return True
        self.in_use -= 1
        return False

    def leave_queue(self) -> None:
        """A waiter gave up (its wait expired or it was cancelled)."""
        self.waiting -= 1


class Bulkhead:
    """Asyncio bulkhead; use ``async with bulkhead:`` around one call.

    ``sleep`` times the wait for a slot (inject a fake to decide in tests when
    the wait expires).
    """

    __slots__ = ("_core", "_sleep", "_waiters", "name")

    def __init__(
        self, config: BulkheadConfig | None = None, *, name: str = "", sleep: Sleep = asyncio.sleep
    ) -> None:
        self._core = BulkheadCore(config or BulkheadConfig())
        self._sleep = sleep
        self._waiters: deque[asyncio.Future[None]] = deque()
        self.name = name

    @property
    def config(self) -> BulkheadConfig:
        return self._core.config

    @property
    def in_use(self) -> int:
        return self._core.in_use

    @property
    def waiting(self) -> int:
        return self._core.waiting

    async def acquire(self) -> None:
        """Take a slot, waiting if need be. Raises :class:`PoolTimeoutError`."""
        admission = self._core.request()
        if admission is Admission.ENTER:
            return
        cfg = self._core.config
        if admission is Admission.QUEUE_FULL:
            if cfg.max_wait_s > 0 and cfg.max_queue > 0:
                detail = f"all {cfg.max_concurrent} slots busy and all {cfg.max_queue} queue places taken"
            else:
                detail = (
                    f"all {cfg.max_concurrent} slots busy and waiting is off (max_queue or max_wait_s is 0)"
                )
            raise PoolTimeoutError(self.name, "queue_full", detail)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        timer = asyncio.ensure_future(self._sleep(cfg.max_wait_s))
        try:
            await asyncio.wait((waiter, timer), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            timer.cancel()
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._give_up(waiter)
            raise
        if waiter.done():  # handed a slot, even if the timer fired in the same turn
            timer.cancel()
            return
        self._give_up(waiter)
        raise PoolTimeoutError(
            self.name, "wait_expired", f"no slot of {cfg.max_concurrent} freed within {cfg.max_wait_s:g}s"
        )

    def release(self) -> None:
        """Give a slot back (to the oldest waiter, if any)."""
        if self._core.release():
            self._waiters.popleft().set_result(None)

    def _give_up(self, waiter: asyncio.Future[None]) -> None:
        self._waiters.remove(waiter)
        waiter.cancel()
        self._core.leave_queue()

    async def __aenter__(self) -> Bulkhead:
        await self.acquire()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

"""Outcome windows for the sliding-window policy (resilience4j's two metric kinds).

Both keep running totals, so recording an outcome and reading the rates is O(1)
(amortised): no per-call allocation, no scan of the window.

- :class:`CountWindow`: the last ``size`` recorded calls (a ring buffer).
- :class:`TimeWindow`: calls recorded in the last ``size`` whole seconds, in
  1-second buckets keyed by ``floor(now)`` (resilience4j's partial aggregation):
  a bucket leaves the window when ``floor(now)`` moves ``size`` seconds past it.
"""

from __future__ import annotations

import math

__all__ = ["CountWindow", "TimeWindow"]

_FAILED = 1


class CountWindow:
    """Totals over the last ``size`` calls."""

    __slots__ = ("_next", "_ring", "failures", "size", "slow", "total")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"count window size must be >= 1 call, got {size}")
        self.size = size
        self._ring = bytearray(size)
        self._next = 0
        self.total = 0
        self.failures = 0
        self.slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one outcome, dropping the oldest once the window is full (``now`` is unused)."""
        i = self._next
        old = self._ring[i]  # 0 while the window is filling: subtracting it changes nothing
        code = failed | (slow << 1)
        if code != old:
            self._ring[i] = code
            self.failures += (code & _FAILED) - (old & _FAILED)
            self.slow += (code >> 1) - (old >> 1)
        if self.total < self.size:
            self.total += 1
        i += 1
        self._next = i if i < self.size else 0

    def advance(self, now: float) -> None:
        """Nothing expires by time in a count window."""

    def clear(self) -> None:
        self._ring = bytearray(self.size)
        self._next = self.total = self.failures = self.slow = 0


class TimeWindow:
    """Totals over the calls recorded in the last ``size`` whole seconds."""

    __slots__ = ("_b_failures", "_b_slow", "_b_total", "_head", "failures", "size", "slow", "total")

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"time window size must be >= 1 s, got {size}")
        self.size = size
        self._b_total = [0] * size
        self._b_failures = [0] * size
        self._b_slow = [0] * size
        self._head = -(2**62)
        self.total = 0
        self.failures = 0
        self.slow = 0

    def record(self, failed: bool, slow: bool, now: float) -> None:
        """Add one outcome to the bucket of ``floor(now)`` (a clock going back counts as the newest second)."""
        self.advance(now)
        i = self._head % self.size
        self._b_total[i] += 1
        self.total += 1
        if failed:
            self._b_failures[i] += 1
            self.failures += 1
        if slow:
            self._b_slow[i] += 1
            self.slow += 1

    def advance(self, now: float) -> None:
        """Expire the buckets that are ``size`` seconds or more older than ``floor(now)``."""
        sec = math.floor(now)
        head = self._head
        if sec <= head:
            return
        if sec - head >= self.size:
            self.clear()
        else:
            size = self.size
            for s in range(head + 1, sec + 1):
                i = s % size
                self.total -= self._b_total[i]
                self.failures -= self._b_failures[i]
                self.slow -= self._b_slow[i]
                self._b_total[i] = self._b_failures[i] = self._b_slow[i] = 0
        self._head = sec

    def clear(self) -> None:
        size = self.size
        self._b_total = [0] * size
        self._b_failures = [0] * size
        self._b_slow = [0] * size
        self.total = self.failures = self.slow = 0

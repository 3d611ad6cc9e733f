"""A small rolling latency estimator: the last ``capacity`` latencies, nearest-rank quantiles.

Used to pick the hedge delay (say the observed p95). Percentiles follow the
project's nearest-rank definition (``docs/architecture.md``): for sorted
values ``x[1..n]``, the q-quantile is ``x[ceil(q * n)]``. The sorted copy is
rebuilt at most every ``refresh_every`` observations, so asking on every call
costs nothing between rebuilds.
"""

from __future__ import annotations

import math

__all__ = ["LatencyEstimator"]


class LatencyEstimator:
    """Rolling window of recent latencies (seconds)."""

    __slots__ = ("_next", "_ring", "_since_sort", "_sorted", "capacity", "refresh_every")

    def __init__(self, capacity: int = 200, *, refresh_every: int = 10) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if refresh_every < 1:
            raise ValueError(f"refresh_every must be >= 1, got {refresh_every}")
        self.capacity = capacity
        self.refresh_every = refresh_every
        self._ring: list[float] = []
        self._next = 0
        self._sorted: list[float] = []
        self._since_sort = 0

    @property
    def count(self) -> int:
        return len(self._ring)

    def observe(self, latency_s: float) -> None:
        """Add one latency, dropping the oldest once ``capacity`` are held."""
        if len(self._ring) < self.capacity:
            self._ring.append(latency_s)
        else:
            self._ring[self._next] = latency_s
            self._next = (self._next + 1) % self.capacity
        self._since_sort += 1

    def quantile(self, q: float) -> float | None:
        """The nearest-rank ``q``-quantile (``q`` in (0, 1]); ``None`` before any observation."""
        if not 0 < q <= 1:
            raise ValueError(f"quantile must be in (0, 1], got {q}")
        if not self._ring:
            return None
        if self._since_sort >= self.refresh_every or not self._sorted:
            self._sorted = sorted(self._ring)
            self._since_sort = 0
        values = self._sorted
        return values[max(0, math.ceil(q * len(values)) - 1)]

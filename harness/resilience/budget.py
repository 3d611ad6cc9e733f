"""A ratio budget: extra attempts (retries, hedges) at most a share of recent calls.

Finagle's and Linkerd's retry budget: over a sliding window of ``window_s``
seconds, the budget holds

    ratio * calls_in_window + min_per_s * window_s - spent_in_window

tokens, and one extra attempt costs one token. ``ratio`` caps amplification
when traffic is heavy (0.2: at most one retry per five calls); the
``min_per_s`` floor lets a quiet client still retry. When a server fails
outright, every caller's retries draw on the same few tokens, so the load on
it grows by at most ``1 + ratio`` (plus the floor) instead of ``max_attempts`` times.

The window is ``buckets`` equal time slices; a slice leaves the window whole,
so the effective window is between ``window_s - window_s / buckets`` and ``window_s``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["BudgetConfig", "RatioBudget"]


@dataclass(frozen=True, slots=True)
class BudgetConfig:
    """Budget settings. Raises ``ValueError`` when out of range."""

    ratio: float = 0.2
    min_per_s: float = 10.0
    window_s: float = 10.0
    buckets: int = 10

    def __post_init__(self) -> None:
        if not self.ratio >= 0:
            raise ValueError(f"ratio must be >= 0, got {self.ratio}")
        if not self.min_per_s >= 0:
            raise ValueError(f"min_per_s must be >= 0, got {self.min_per_s}")
        if not (self.window_s > 0 and math.isfinite(self.window_s)):
            raise ValueError(f"window_s must be a finite number > 0, got {self.window_s}")
        if self.buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {self.buckets}")


class RatioBudget:
    """Counts calls and spent tokens per time slice; see the module docstring."""

    __slots__ = ("_calls", "_head", "_spent", "_width_s", "calls", "config", "spent")

    def __init__(self, config: BudgetConfig | None = None) -> None:
        self.config = config or BudgetConfig()
        self._width_s = self.config.window_s / self.config.buckets
        self._calls = [0] * self.config.buckets
        self._spent = [0] * self.config.buckets
        self._head = -(2**62)
        self.calls = 0
        self.spent = 0

    def record_call(self, now: float) -> None:
        """Count one call (an original attempt, not a retry): it earns ``ratio`` tokens."""
        i = self._advance(now)
        self._calls[i] += 1
        self.calls += 1

    def balance(self, now: float) -> float:
        """Tokens available now."""
        self._advance(now)
        return self.config.ratio * self.calls + self.config.min_per_s * self.config.window_s - self.spent

    def try_spend(self, now: float) -> bool:
        """Take one token if there is a whole one; return whether it was taken."""
        if self.balance(now) < 1.0:
            return False
        self._spent[self._head % self.config.buckets] += 1
        self.spent += 1
        return True

    def _advance(self, now: float) -> int:
        slot = math.floor(now / self._width_s)
        head = self._head
        n = self.config.buckets
        if slot > head:
            if slot - head >= n:
                self._calls = [0] * n
                self._spent = [0] * n
                self.calls = self.spent = 0
            else:
                for s in range(head + 1, slot + 1):
                    i = s % n
                    self.calls -= self._calls[i]
                    self.spent -= self._spent[i]
                    self._calls[i] = self._spent[i] = 0
            self._head = head = slot
        return head % n

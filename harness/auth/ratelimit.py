"""Per-user rate limiting with token buckets; the decisions are pure, time comes from an injected clock.

Each user has a bucket of ``burst`` tokens, refilled continuously at
``rate_per_s``; a request takes one token or is refused with the time until one
is available (the gateway answers ``429`` with ``Retry-After``). Over any
interval of ``d`` seconds a user gets at most ``burst + rate_per_s × d``
requests through.

At most ``max_users`` buckets are kept; when a new user arrives beyond that, the
least recently seen bucket is forgotten (that user starts again with a full
bucket), so memory is bounded whatever the number of users.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateDecision", "RateLimiter", "TokenBucket", "retry_after_header"]


@dataclass(frozen=True, slots=True)
class RateDecision:
    """``allowed``, or refused with ``retry_after_s`` until a token is available; ``remaining`` tokens."""

    allowed: bool
    retry_after_s: float
    remaining: float


class TokenBucket:
    """One bucket: ``tokens`` at time ``updated``; every method is a decision from ``now``."""

    __slots__ = ("burst", "rate_per_s", "tokens", "updated")

    def __init__(self, rate_per_s: float, burst: int, now: float) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate_per_s)
            self.updated = now

    def take(self, now: float) -> RateDecision:
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return RateDecision(True, 0.0, self.tokens)
        return RateDecision(False, (1.0 - self.tokens) / self.rate_per_s, self.tokens)


class RateLimiter:
    """Token buckets by key (the user). Raises ``ValueError`` for a non-positive setting."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        *,
        max_users: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate_per_s > 0 or burst < 1 or max_users < 1:
            raise ValueError(
                f"rate_per_s > 0, burst >= 1 and max_users >= 1 expected, got {rate_per_s}, {burst}, {max_users}"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_users = max_users
        self._clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self.allowed = 0
        self.refused = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, key: str) -> bool:
        return key in self._buckets

    def check(self, key: str) -> RateDecision:
        """Take one token from ``key``'s bucket, now."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.rate_per_s, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_users:
                self._buckets.popitem(last=False)
                self.evicted += 1
        else:
            self._buckets.move_to_end(key)
        decision = bucket.take(now)
        if decision.allowed:
            self.allowed += 1
        else:
            self.refused += 1
        return decision

    def tokens(self, key: str) -> float | None:
        """``key``'s tokens now (refilled, nothing taken), or ``None`` when it has no bucket."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return None
        bucket.refill(self._clock())
        return bucket.tokens


def retry_after_header(retry_after_s: float) -> str:
    """``Retry-After`` in whole seconds, rounded up, at least 1 (RFC 9110 delay-seconds)."""
    return str(max(1, math.ceil(retry_after_s)))

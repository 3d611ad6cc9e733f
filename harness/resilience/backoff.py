"""Backoff delays between attempts: exponential, with full or decorrelated jitter.

Pure functions of the retry number, the previous delay and an injected
``random.Random`` (never the global one), so a seeded run replays the same
delays. Formulas (AWS Architecture Blog, "Exponential Backoff and Jitter"):

- ``none``:          ``min(max_s, base_s * multiplier ** (retry - 1))``
- ``full``:          ``uniform(0, that)``
- ``decorrelated``:  ``min(max_s, uniform(base_s, 3 * previous))``, previous starting at ``base_s``
"""

from __future__ import annotations

import random
from typing import Literal

__all__ = ["JITTERS", "Jitter", "backoff_s", "decorrelated_jitter_s", "exponential_s", "full_jitter_s"]

Jitter = Literal["none", "full", "decorrelated"]
JITTERS: tuple[Jitter, ...] = ("none", "full", "decorrelated")

#: Beyond this exponent every sane multiplier has long reached ``max_s``; it keeps the power finite.
_MAX_EXPONENT = 64


def exponential_s(retry: int, base_s: float, multiplier: float, max_s: float) -> float:
    """Delay before retry number ``retry`` (1 = the first retry), capped at ``max_s``."""
    return min(max_s, base_s * multiplier ** min(retry - 1, _MAX_EXPONENT))


def full_jitter_s(retry: int, base_s: float, multiplier: float, max_s: float, rng: random.Random) -> float:
    """A delay drawn uniformly from ``[0, exponential_s(...)]``."""
    return rng.uniform(0.0, exponential_s(retry, base_s, multiplier, max_s))


def decorrelated_jitter_s(previous_s: float, base_s: float, max_s: float, rng: random.Random) -> float:
    """A delay drawn uniformly from ``[base_s, 3 * previous_s]``, capped at ``max_s``."""
    previous_s = max(previous_s, base_s)
    return min(max_s, rng.uniform(base_s, 3.0 * previous_s))


def backoff_s(
    jitter: Jitter,
    retry: int,
    previous_s: float,
    base_s: float,
    multiplier: float,
    max_s: float,
    rng: random.Random,
) -> float:
    """The delay before retry number ``retry`` under the named jitter."""
    if jitter == "full":
        return full_jitter_s(retry, base_s, multiplier, max_s, rng)
    if jitter == "decorrelated":
        return decorrelated_jitter_s(previous_s, base_s, max_s, rng)
    return exponential_s(retry, base_s, multiplier, max_s)

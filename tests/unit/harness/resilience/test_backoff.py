"""Backoff delays: the exponential sequence, and jitter bounds for any seed."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from harness.resilience.backoff import backoff_s, decorrelated_jitter_s, exponential_s, full_jitter_s


def test_exponential_backoff_multiplies_up_to_the_cap() -> None:
    delays = [exponential_s(retry, 0.1, 2.0, 1.0) for retry in range(1, 8)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_a_huge_retry_number_stays_at_the_cap() -> None:
    assert exponential_s(10_000, 0.1, 10.0, 30.0) == 30.0


@given(seed=st.integers(0, 2**32), retry=st.integers(1, 40))
def test_full_jitter_stays_between_zero_and_the_exponential_delay(seed: int, retry: int) -> None:
    delay = full_jitter_s(retry, 0.05, 2.0, 5.0, random.Random(seed))
    assert 0.0 <= delay <= exponential_s(retry, 0.05, 2.0, 5.0)


@given(seed=st.integers(0, 2**32), previous=st.floats(0.0, 100.0))
def test_decorrelated_jitter_stays_between_base_and_three_times_the_previous_delay(
    seed: int, previous: float
) -> None:
    delay = decorrelated_jitter_s(previous, 0.05, 5.0, random.Random(seed))
    assert 0.05 <= delay <= min(5.0, 3 * max(previous, 0.05))


def test_the_same_seed_replays_the_same_delays() -> None:
    def sequence(seed: int) -> list[float]:
        rng = random.Random(seed)
        return [backoff_s("full", n, 0.0, 0.05, 2.0, 5.0, rng) for n in range(1, 10)]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)


def test_full_jitter_spreads_delays_over_the_whole_range() -> None:
    rng = random.Random(1)
    delays = [full_jitter_s(4, 0.1, 2.0, 10.0, rng) for _ in range(1000)]
    assert min(delays) < 0.1 and max(delays) > 0.7  # of [0, 0.8]

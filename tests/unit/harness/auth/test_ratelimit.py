"""Per-user token buckets, against a model with exact arithmetic (hypothesis state machine)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from harness.auth import RateLimiter, retry_after_header


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_through_then_the_rate_applies() -> None:
    clock = Clock()
    limiter = RateLimiter(2.0, 3, clock=clock)
    assert [limiter.check("u").allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.check("u")
    assert refused.retry_after_s == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.check("u").allowed
    assert not limiter.check("u").allowed


def test_users_have_their_own_buckets() -> None:
    limiter = RateLimiter(1.0, 1, clock=Clock())
    assert limiter.check("a").allowed and not limiter.check("a").allowed
    assert limiter.check("b").allowed


def test_a_bucket_never_holds_more_than_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(10.0, 2, clock=clock)
    limiter.check("u")
    clock.now += 3600
    assert limiter.tokens("u") == 2.0
    assert limiter.tokens("nobody") is None


def test_the_least_recently_seen_user_is_forgotten_beyond_max_users() -> None:
    limiter = RateLimiter(1.0, 1, max_users=2, clock=Clock())
    for user in ("a", "b", "a", "c"):
        limiter.check(user)
    assert "b" not in limiter and "a" in limiter and "c" in limiter
    assert (len(limiter), limiter.evicted) == (2, 1)


@pytest.mark.parametrize(
    ("seconds", "header"), [(0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"), (30.0, "30")]
)
def test_retry_after_is_whole_seconds_rounded_up(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


@pytest.mark.parametrize(("rate", "burst", "users"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)])
def test_bad_settings_are_refused(rate: float, burst: int, users: int) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate, burst, max_users=users)


# Binary fractions only, so the float arithmetic of the limiter is exact and must match the model.
RATES = [0.5, 1.0, 2.0, 4.0]
STEPS = [Fraction(0), Fraction(1, 8), Fraction(1, 4), Fraction(1, 2), Fraction(1), Fraction(3)]
USERS = ["a", "b", "c", "d"]


class LimiterMachine(RuleBasedStateMachine):
    """The limiter against a model: exact token counts per user, LRU by last check, and a log of grants."""

    @initialize(rate=st.sampled_from(RATES), burst=st.integers(1, 4), max_users=st.integers(1, 3))
    def setup(self, rate: float, burst: int, max_users: int) -> None:
        self.clock = Clock()
        self.limiter = RateLimiter(rate, burst, max_users=max_users, clock=self.clock)
        self.rate, self.burst, self.max_users = Fraction(rate), burst, max_users
        self.now = Fraction(100)
        self.tokens: dict[str, tuple[Fraction, Fraction]] = {}  # user -> (tokens, at); insertion = LRU order
        self.granted: dict[
            str, list[Fraction]
        ] = {}  # user -> times let through since it was last (re)created

    @rule(dt=st.sampled_from(STEPS))
    def advance(self, dt: Fraction) -> None:
        self.now += dt
        self.clock.now = float(self.now)

    @rule(user=st.sampled_from(USERS))
    def check(self, user: str) -> None:
        if user in self.tokens:
            tokens, at = self.tokens.pop(user)
            tokens = min(Fraction(self.burst), tokens + (self.now - at) * self.rate)
        else:
            tokens = Fraction(self.burst)
            self.granted[user] = []
            if len(self.tokens) >= self.max_users:
                forgotten = next(iter(self.tokens))
                del self.tokens[forgotten]
        allowed = tokens >= 1
        if allowed:
            tokens -= 1
            self.granted[user].append(self.now)
        self.tokens[user] = (tokens, self.now)
        decision = self.limiter.check(user)
        assert decision.allowed == allowed
        if not allowed:
            assert decision.retry_after_s == float((1 - tokens) / self.rate) > 0

    @invariant()
    def same_users_and_tokens(self) -> None:
        if not hasattr(self, "limiter"):
            return
        assert len(self.limiter) == len(self.tokens) <= self.max_users
        for user, (tokens, at) in self.tokens.items():
            expected = min(Fraction(self.burst), tokens + (self.now - at) * self.rate)
            assert self.limiter.tokens(user) == float(expected)

    @invariant()
    def never_more_than_burst_plus_rate_times_the_interval(self) -> None:
        if not hasattr(self, "granted"):
            return
        for times in self.granted.values():
            for i, start in enumerate(times):
                for j in range(i, len(times)):
                    assert j - i + 1 <= self.burst + (times[j] - start) * self.rate


LimiterMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=60, deadline=None)
TestRateLimiterAgainstItsModel = LimiterMachine.TestCase

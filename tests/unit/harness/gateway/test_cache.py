"""The response cache: TTL and LRU on an injected clock, what is cached, and failures that are misses."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from mcp.types import CallToolResult, TextContent

from harness.gateway.cache import CacheBackendError, MemoryCache, ToolResponseCache, cache_key


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def result(text: str, error: bool = False) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)], isError=error, structuredContent={"t": text}
    )


def test_an_entry_lives_for_its_ttl() -> None:
    clock = Clock()
    cache = MemoryCache(clock=clock)
    cache.set_now("k", b"v", 10.0)
    clock.now = 9.99
    assert cache.get_now("k") == b"v"
    clock.now = 10.0
    assert cache.get_now("k") is None and len(cache) == 0


def test_the_least_recently_used_entry_goes_first() -> None:
    cache = MemoryCache(2, clock=Clock())
    cache.set_now("a", b"1", 60)
    cache.set_now("b", b"2", 60)
    cache.get_now("a")
    cache.set_now("c", b"3", 60)
    assert (cache.get_now("a"), cache.get_now("b"), cache.get_now("c")) == (b"1", None, b"3")
    assert cache.evicted == 1


def test_keys_ignore_argument_order_and_differ_by_server_tool_and_arguments() -> None:
    key = cache_key("p:", "wx", "get_forecast", {"city": "Oslo", "days": 2})
    assert key == cache_key("p:", "wx", "get_forecast", {"days": 2, "city": "Oslo"})
    assert key.startswith("p:wx:get_forecast:")
    others = {
        cache_key("p:", "wx2", "get_forecast", {"city": "Oslo", "days": 2}),
        cache_key("p:", "wx", "get_current_weather", {"city": "Oslo", "days": 2}),
        cache_key("p:", "wx", "get_forecast", {"city": "Oslo", "days": 3}),
    }
    assert key not in others and len(others) == 3


def tool_cache(backend: object, tools: tuple[str, ...] = ("weather.get_forecast",)) -> ToolResponseCache:
    return ToolResponseCache(backend, {"wx": "weather", "db": "database"}, tools, ttl_s=30)  # type: ignore[arg-type]


def test_only_listed_tools_are_cached_and_only_answers_that_are_not_errors() -> None:
    cache = tool_cache(MemoryCache(clock=Clock()), ("weather.get_forecast", "database.*"))

    async def go() -> list[CallToolResult | None]:
        args = {"city": "Oslo"}
        await cache.put("wx", "get_forecast", args, result("sunny"))
        await cache.put("wx", "get_current_weather", args, result("now"))
        await cache.put("db", "query", {"t": 1}, result("rows"))
        await cache.put("db", "insert", {"t": 1}, result("oops", error=True))
        return [
            await cache.get("wx", "get_forecast", args),
            await cache.get("wx", "get_current_weather", args),
            await cache.get("db", "query", {"t": 1}),
            await cache.get("db", "insert", {"t": 1}),
            await cache.get("wx", "get_forecast", {"city": "Lima"}),
        ]

    forecast, current, rows, insert, other_city = asyncio.run(go())
    assert forecast == result("sunny") and rows == result("rows")
    assert current is None and insert is None and other_city is None
    assert cache.counts[("wx", "get_forecast", "hit")] == 1
    assert cache.counts[("wx", "get_forecast", "miss")] == 1
    assert cache.counts[("db", "insert", "miss")] == 1
    assert ("wx", "get_current_weather", "miss") not in cache.counts  # not cacheable: not even looked up


class BrokenBackend:
    name = "broken"

    async def get(self, key: str) -> bytes | None:
        raise CacheBackendError("down")

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        raise CacheBackendError("down")

    async def aclose(self) -> None:
        return None


def test_a_failing_backend_is_a_counted_miss_never_an_error() -> None:
    cache = tool_cache(BrokenBackend())

    async def go() -> CallToolResult | None:
        await cache.put("wx", "get_forecast", {}, result("x"))
        return await cache.get("wx", "get_forecast", {})

    assert asyncio.run(go()) is None
    assert cache.counts[("wx", "get_forecast", "error")] == 2
    assert "down" in cache.last_error


def test_a_corrupt_entry_is_a_counted_miss() -> None:
    backend = MemoryCache(clock=Clock())
    cache = tool_cache(backend)
    backend.set_now(cache_key(cache.key_prefix, "wx", "get_forecast", {}), b"{not json", 30)
    assert asyncio.run(cache.get("wx", "get_forecast", {})) is None
    assert cache.counts[("wx", "get_forecast", "error")] == 1


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="max_entries"):
        MemoryCache(0)


class MemoryCacheMachine(RuleBasedStateMachine):
    """MemoryCache against a model: a dict of (expiry, value) and a recency list."""

    @initialize(size=st.integers(1, 4))
    def setup(self, size: int) -> None:
        self.clock = Clock()
        self.cache = MemoryCache(size, clock=self.clock)
        self.size = size
        self.model: dict[str, tuple[float, bytes]] = {}  # insertion order = recency

    @rule(dt=st.sampled_from([0.0, 0.5, 1.0, 5.0]))
    def advance(self, dt: float) -> None:
        self.clock.now += dt

    @rule(key=st.sampled_from("abcde"), value=st.binary(max_size=3), ttl=st.sampled_from([0.5, 1.0, 3.0]))
    def put(self, key: str, value: bytes, ttl: float) -> None:
        self.model.pop(key, None)
        self.model[key] = (self.clock.now + ttl, value)
        while len(self.model) > self.size:
            del self.model[next(iter(self.model))]
        self.cache.set_now(key, value, ttl)

    @rule(key=st.sampled_from("abcde"))
    def get(self, key: str) -> None:
        entry = self.model.pop(key, None)
        expected = None
        if entry is not None and self.clock.now < entry[0]:
            self.model[key] = entry
            expected = entry[1]
        assert self.cache.get_now(key) == expected

    @invariant()
    def bounded(self) -> None:
        if hasattr(self, "cache"):
            assert len(self.cache) <= self.size


MemoryCacheMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=50, deadline=None)
TestMemoryCacheAgainstItsModel = MemoryCacheMachine.TestCase

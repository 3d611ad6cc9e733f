"""The response cache on a real redis-server (Debian's), started on a free 127.0.0.1 port per test."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import redis
from mcp.types import CallToolResult, TextContent

from harness.errors import ConfigError
from harness.gateway.cache import ToolResponseCache, cache_key
from harness.gateway.cache_redis import RedisCache, redacted_url
from harness.netutil import free_port
from tests.integration.harness.auth_helpers import gateway, read_rows

pytestmark = pytest.mark.integration

REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
)


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    if REDIS_SERVER is None:
        pytest.skip(
            "redis-server is not installed (Debian package redis-server); the Redis cache is untested here"
        )
    port = free_port()
    proc = subprocess.Popen(
        [
            REDIS_SERVER,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, f"redis-server exited with {proc.returncode}"
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise AssertionError("redis-server did not answer within 20 s") from None
                time.sleep(0.05)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def answer(text: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=text)], structuredContent={"text": text})


async def test_answers_round_trip_through_redis_with_its_ttl(redis_url: str) -> None:
    backend = RedisCache(redis_url)
    cache = ToolResponseCache(backend, {"wx": "weather"}, ["weather.get_forecast"], ttl_s=30, key_prefix="t:")
    try:
        with anyio.fail_after(20):
            args = {"city": "Oslo", "days": 2}
            assert await cache.get("wx", "get_forecast", args) is None
            await cache.put("wx", "get_forecast", args, answer("sunny"))
            assert await cache.get("wx", "get_forecast", args) == answer("sunny")
            assert await backend.ping()
    finally:
        await backend.aclose()
    direct = redis.Redis.from_url(redis_url)
    try:
        ttl_ms = direct.pttl(cache_key("t:", "wx", "get_forecast", {"days": 2, "city": "Oslo"}))
    finally:
        direct.close()
    assert 0 < ttl_ms <= 30_000  # Redis expires the entry; nothing waits here
    assert dict(cache.counts) == {
        ("wx", "get_forecast", "miss"): 1,
        ("wx", "get_forecast", "stored"): 1,
        ("wx", "get_forecast", "hit"): 1,
    }


async def test_a_dead_redis_is_a_miss_and_is_skipped_for_a_while(tmp_path: Path) -> None:
    now = [0.0]
    backend = RedisCache(f"redis://127.0.0.1:{free_port()}/0", down_for_s=1.0, monotonic=lambda: now[0])
    cache = ToolResponseCache(backend, {"wx": "weather"}, ["weather.*"], ttl_s=30)
    try:
        with anyio.fail_after(20):
            assert await cache.get("wx", "get_forecast", {}) is None
            assert "ConnectionError" in backend.last_error or "Connect" in backend.last_error
            assert await cache.get("wx", "get_forecast", {}) is None  # skipped: no connection attempted
            assert "skipped" in cache.last_error
            now[0] = 1.0
            assert await cache.get("wx", "get_forecast", {}) is None
            assert not await backend.ping()
    finally:
        await backend.aclose()
    assert cache.counts[("wx", "get_forecast", "error")] == 3


def test_redis_must_be_on_loopback_unless_allowed() -> None:
    with pytest.raises(ConfigError, match="not loopback"):
        RedisCache("redis://10.1.2.3:6379/0")
    RedisCache("redis://10.1.2.3:6379/0", allow_non_loopback=True)  # constructing connects nothing
    with pytest.raises(ConfigError, match="expected redis://"):
        RedisCache("http://127.0.0.1:6379")


def test_passwords_are_redacted() -> None:
    assert redacted_url("redis://user:s3cret@127.0.0.1:6379/0") == "redis://user:***@127.0.0.1:6379/0"
    assert redacted_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_gateway_caches_in_redis_when_redis_url_is_set(tmp_path: Path, redis_url: str) -> None:
    env = {"REDIS_URL": redis_url}
    with gateway(
        tmp_path, kinds=("weather",), auth=False, calls_per_turn=2, cache={"enabled": True}, env=env
    ) as c:
        first = c.post("/v1/sessions/s1/messages", json={"turn": 0})
        health = c.get("/health").json()
    assert first.status_code == 200
    assert health["checks"] == {"cache": "ok"} and health["protections"]["cache"] == "redis"
    calls = len(read_rows(tmp_path / "events" / "calls.gateway.jsonl"))
    # A second gateway (a new process's worth of state) is answered from Redis: no call at all.
    second_dir = tmp_path / "second"
    with gateway(
        second_dir, kinds=("weather",), auth=False, calls_per_turn=2, cache={"enabled": True}, env=env
    ) as c:
        again = c.post("/v1/sessions/s1/messages", json={"turn": 0})
    assert again.status_code == 200 and calls >= 1
    assert read_rows(second_dir / "events" / "calls.gateway.jsonl") == []
    direct = redis.Redis.from_url(redis_url)
    try:
        assert len(direct.keys("chaosbench:cache:weather:*")) == calls
    finally:
        direct.close()

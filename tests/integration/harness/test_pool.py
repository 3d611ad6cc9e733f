"""SessionPool and the manager on top of it, against real stdio and HTTP weather servers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import anyio
import psutil
import pytest
from mcp.shared.exceptions import McpError

from harness.connection import HttpTarget, StdioTarget
from harness.errors import ToolCallError
from harness.manager import ManagerConfig, ResilientMCPManager, ServerSpec
from harness.pool import PoolConfig, PoolExhaustedError, SessionPool
from harness.resilience import BreakerConfig
from tests.integration.harness.conftest import HttpServer, stdio_command
from tests.integration.harness.test_manager import Recorder

pytestmark = pytest.mark.integration


def stdio_target(tmp_path: Path, faults: list[dict[str, object]] | None = None) -> StdioTarget:
    command = stdio_command(tmp_path, faults)
    return StdioTarget(command[0], tuple(command[1:]))


def server_processes() -> list[psutil.Process]:
    me = psutil.Process(os.getpid())
    return [c for c in me.children(recursive=True) if "fault_servers" in " ".join(c.cmdline())]


class Caller:
    """Calls ``get_current_weather`` through a manager with request id ``r<i>``; counts the calls
    it issued and returns each call's outcome (``ok`` or the failure's outcome)."""

    def __init__(self, manager: ResilientMCPManager) -> None:
        self.manager = manager
        self.issued = 0

    async def __call__(self, i: int) -> str:
        self.issued += 1
        try:
            await self.manager.call_tool(
                "weather", "get_current_weather", {"city": "Oslo"}, request_id=f"r{i}"
            )
            return "ok"
        except ToolCallError as exc:
            return exc.outcome


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    with anyio.fail_after(timeout_s):
        while not predicate():
            await anyio.sleep(0.05)
    assert predicate(), what


async def test_a_killed_stdio_server_fails_in_flight_calls_on_eof_and_the_pool_respawns_it(
    tmp_path: Path,
) -> None:
    pool = SessionPool(
        "weather",
        stdio_target(tmp_path, [{"kind": "latency", "delay_s": 30.0}]),
        PoolConfig(size=2, health_interval_s=0),
        read_timeout_s=60.0,
    )
    try:
        with anyio.fail_after(60):
            assert await pool.start() == []
            before = {p.pid for p in server_processes()}
            assert len(before) == 2
            calls = [
                asyncio.ensure_future(pool.call_tool("get_current_weather", {"city": "Oslo"}, 60.0))
                for _ in range(4)
            ]
            await wait_until(lambda: pool.in_flight == 4, "four calls in flight")
            for proc in server_processes():
                proc.send_signal(signal.SIGKILL)
            results = await asyncio.gather(*calls, return_exceptions=True)
            # The calls ended because the stream closed, long before their 30 s delay or 60 s timeout.
            assert all(isinstance(r, McpError) and "Connection closed" in str(r) for r in results), results
            await wait_until(lambda: pool.alive == 2, "both sessions respawned")
            after = {p.pid for p in server_processes()}
        assert after.isdisjoint(before)
        assert pool.stats.evicted == 2 and pool.stats.reconnects >= 2
    finally:
        await pool.close()
    assert server_processes() == []


async def test_calls_go_to_the_least_loaded_session_and_overflow_waits_then_times_out(tmp_path: Path) -> None:
    pool = SessionPool(
        "weather",
        stdio_target(tmp_path, [{"kind": "latency", "delay_s": 2.0}]),
        PoolConfig(size=2, max_in_flight_per_session=1, acquire_timeout_s=0.2, health_interval_s=0),
    )
    try:
        with anyio.fail_after(60):
            await pool.start()
            first = asyncio.ensure_future(pool.call_tool("get_current_weather", {"city": "Oslo"}, 10.0))
            second = asyncio.ensure_future(pool.call_tool("get_current_weather", {"city": "Lima"}, 10.0))
            await wait_until(lambda: pool.in_flight == 2, "two calls in flight")
            assert sorted(s.reserved for s in pool._slots) == [1, 1]  # one on each session
            with pytest.raises(PoolExhaustedError, match="at 1 calls in flight"):
                await pool.call_tool("get_current_weather", {"city": "Riga"}, 10.0)
            assert pool.stats.exhausted == 1
            await asyncio.gather(first, second)
    finally:
        await pool.close()


async def test_no_waiting_room_means_an_immediate_pool_timeout(tmp_path: Path) -> None:
    pool = SessionPool(
        "weather",
        stdio_target(tmp_path, [{"kind": "latency", "delay_s": 2.0}]),
        PoolConfig(size=1, max_in_flight_per_session=1, max_waiters=0, health_interval_s=0),
    )
    try:
        with anyio.fail_after(60):
            busy = asyncio.ensure_future(pool.call_tool("get_current_weather", {"city": "Oslo"}, 10.0))
            await wait_until(lambda: pool.in_flight == 1, "one call in flight")
            with pytest.raises(PoolExhaustedError, match="already waiting"):
                await pool.call_tool("get_current_weather", {"city": "Lima"}, 10.0)
            await busy
    finally:
        await pool.close()


async def test_health_checks_evict_an_idle_session_to_a_dead_http_server(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server()
    pool = SessionPool(
        "weather",
        HttpTarget(server.url),
        PoolConfig(size=1, health_interval_s=0.2),
        read_timeout_s=2.0,
        connect_timeout_s=2.0,
    )
    try:
        with anyio.fail_after(60):
            await pool.start()
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            await wait_until(lambda: pool.stats.evicted >= 1, "the idle session evicted by a failed ping")
            http_server(port=server.port)
            await wait_until(lambda: pool.alive == 1, "a new session to the restarted server")
            result = await pool.call_tool("get_current_weather", {"city": "Oslo"}, 5.0)
        assert not result.isError
    finally:
        await pool.close()


async def test_killing_stdio_servers_under_load_opens_the_breaker_which_closes_after_respawn(
    tmp_path: Path,
) -> None:
    calls, breaker = Recorder(), Recorder()
    manager = ResilientMCPManager(
        # Calls take 0.5 s, so the ten under load are surely still in flight when the servers die.
        [ServerSpec("weather", stdio_target(tmp_path, [{"kind": "latency", "delay_s": 0.5}]))],
        ManagerConfig(
            pool=PoolConfig(size=2, health_interval_s=0),
            breaker=BreakerConfig(failure_threshold=3, recovery_timeout_s=1.0),
        ),
        calls_sink=calls,
        breaker_sink=breaker,
    )
    one = Caller(manager)

    try:
        with anyio.fail_after(90):
            await manager.start()
            first = await asyncio.gather(*(one(i) for i in range(10)))
            assert set(first) == {"ok"}
            load = [asyncio.ensure_future(one(100 + i)) for i in range(10)]
            await wait_until(lambda: manager.get_metrics()["weather"]["in_flight"] > 0, "calls in flight")
            for proc in server_processes():
                proc.send_signal(signal.SIGKILL)
            during = await asyncio.gather(*load)
            assert "transport_error" in during
            await wait_until(lambda: manager.breaker_state("weather") == "open", "breaker open")
            n = 1000
            while manager.breaker_state("weather") != "closed":
                await one(n)
                n += 1
                await anyio.sleep(0.1)
    finally:
        await manager.aclose()
    transitions = [(r["from_state"], r["to_state"]) for r in breaker.rows]
    assert ("closed", "open") in transitions
    assert transitions[-2:] == [("open", "half_open"), ("half_open", "closed")]
    # Every attempt is in `calls` exactly once (one attempt per call: no retries configured).
    assert len(calls.rows) == one.issued
    assert Counter(r["request_id"] for r in calls.rows).most_common(1)[0][1] == 1
    assert manager.get_metrics()["weather"]["evicted"] >= 2
    assert server_processes() == []


async def test_an_http_server_killed_under_load_and_restarted_on_its_port_is_recovered(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server(faults=[{"kind": "latency", "delay_s": 0.05}])
    calls, breaker = Recorder(), Recorder()
    manager = ResilientMCPManager(
        [ServerSpec("weather", HttpTarget(server.url))],
        ManagerConfig(
            call_timeout_s=2.0,
            connect_timeout_s=2.0,
            pool=PoolConfig(size=2, health_interval_s=0),
            breaker=BreakerConfig(failure_threshold=3, recovery_timeout_s=1.0),
        ),
        calls_sink=calls,
        breaker_sink=breaker,
    )
    one = Caller(manager)

    try:
        with anyio.fail_after(90):
            await manager.start()
            assert set(await asyncio.gather(*(one(i) for i in range(10)))) == {"ok"}
            load = [asyncio.ensure_future(one(100 + i)) for i in range(10)]
            await wait_until(lambda: manager.get_metrics()["weather"]["in_flight"] > 0, "calls in flight")
            server.proc.send_signal(signal.SIGKILL)
            server.proc.wait(timeout=10)
            during = await asyncio.gather(*load)
            assert set(during) <= {"ok", "transport_error", "timeout", "rejected_open"}
            n = 1000
            while manager.breaker_state("weather") != "open":
                await one(n)
                n += 1
            http_server(port=server.port)
            while manager.breaker_state("weather") != "closed":
                await one(n)
                n += 1
                await anyio.sleep(0.1)
    finally:
        await manager.aclose()
    transitions = [(r["from_state"], r["to_state"]) for r in breaker.rows]
    assert ("closed", "open") in transitions
    assert transitions[-2:] == [("open", "half_open"), ("half_open", "closed")]
    assert len(calls.rows) == one.issued
    assert Counter(r["request_id"] for r in calls.rows).most_common(1)[0][1] == 1

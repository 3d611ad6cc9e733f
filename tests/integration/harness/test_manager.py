"""ResilientMCPManager against real weather servers over HTTP and stdio."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest

from harness.connection import HttpTarget, StdioTarget
from harness.errors import ToolCallError
from harness.manager import ManagerConfig, ResilientMCPManager, ServerSpec
from harness.resilience import BreakerConfig, BreakerState, RetryConfig
from tests.integration.harness.conftest import HttpServer, stdio_command

pytestmark = pytest.mark.integration

REQUIRED_CALL_COLUMNS = {
    "t_start",
    "latency_s",
    "request_id",
    "server",
    "tool",
    "attempt",
    "outcome",
    "breaker_state",
}


class Recorder:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, row: Any) -> None:
        self.rows.append(dict(row))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def manager_for(
    target: HttpTarget | StdioTarget, **config: Any
) -> tuple[ResilientMCPManager, Recorder, Recorder]:
    calls, breaker = Recorder(), Recorder()
    manager = ResilientMCPManager(
        [ServerSpec("weather", target)], ManagerConfig(**config), calls_sink=calls, breaker_sink=breaker
    )
    return manager, calls, breaker


async def test_calls_share_one_persistent_http_session_and_are_recorded(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server()
    manager, calls, _ = manager_for(HttpTarget(server.url))
    with anyio.fail_after(30):
        assert await manager.start() == {}
        results = [
            await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"}, request_id=f"r{i}")
            for i in range(5)
        ]
        await manager.aclose()
    assert all(not r.isError for r in results)
    assert manager.get_metrics()["weather"]["reconnects"] == 0
    assert [r["outcome"] for r in calls.rows] == ["ok"] * 5
    assert [r["request_id"] for r in calls.rows] == [f"r{i}" for i in range(5)]
    assert all(row.keys() >= REQUIRED_CALL_COLUMNS for row in calls.rows)


async def test_the_breaker_opens_on_tool_errors_and_then_rejects(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server(faults=[{"kind": "error", "probability": 1.0, "message": "boom"}])
    manager, calls, breaker = manager_for(
        HttpTarget(server.url), breaker=BreakerConfig(failure_threshold=3, recovery_timeout_s=60)
    )
    outcomes = []
    with anyio.fail_after(30):
        await manager.start()
        for _ in range(8):
            with pytest.raises(ToolCallError) as info:
                await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
            outcomes.append(info.value.outcome)
        await manager.aclose()
    assert outcomes == ["tool_error"] * 3 + ["rejected_open"] * 5
    assert "boom" in calls.rows[0]["error"]
    assert [(r["from_state"], r["to_state"]) for r in breaker.rows] == [("closed", "open")]
    assert [r["breaker_state"] for r in calls.rows[3:]] == ["open"] * 5
    assert manager.breaker_state("weather") is BreakerState.OPEN


async def test_a_call_slower_than_the_call_timeout_is_recorded_as_a_timeout(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server(faults=[{"kind": "latency", "delay_s": 30.0}])
    manager, calls, _ = manager_for(HttpTarget(server.url), call_timeout_s=0.5)
    with anyio.fail_after(30):
        await manager.start()
        with pytest.raises(ToolCallError) as info:
            await manager.call_tool("weather", "get_forecast", {"city": "Lima", "days": 2})
        await manager.aclose()
    assert info.value.outcome == "timeout"
    assert calls.rows[-1]["outcome"] == "timeout"


async def test_a_killed_server_fails_calls_quickly_and_a_restarted_one_is_reconnected(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server()
    manager, calls, _ = manager_for(
        HttpTarget(server.url),
        call_timeout_s=2.0,
        connect_timeout_s=2.0,
        breaker=BreakerConfig(failure_threshold=1000),  # this test is about sessions, not the breaker
    )
    with anyio.fail_after(60):
        await manager.start()
        await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        with pytest.raises(ToolCallError) as info:
            await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
        assert info.value.outcome in {"transport_error", "timeout"}
        http_server(port=server.port)
        recovered = False
        for _ in range(40):
            try:
                await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
                recovered = True
                break
            except ToolCallError:
                await anyio.sleep(0.25)
        await manager.aclose()
    assert recovered
    assert manager.get_metrics()["weather"]["reconnects"] >= 1
    assert calls.rows[-1]["outcome"] == "ok"


async def test_retries_make_one_row_per_attempt_and_record_their_backoff(tmp_path: Path) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    calls = Recorder()
    manager = ResilientMCPManager(
        [ServerSpec("weather", HttpTarget("http://127.0.0.1:9/mcp"))],
        ManagerConfig(
            retry=RetryConfig(max_attempts=3, base_delay_s=0.1, max_delay_s=1.0, jitter="none"),
            connect_timeout_s=1.0,
            breaker=BreakerConfig(failure_threshold=10),
        ),
        calls_sink=calls,
        sleep=fake_sleep,
    )
    with anyio.fail_after(30):
        with pytest.raises(ToolCallError) as info:
            await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
        await manager.aclose()
    assert info.value.outcome == "transport_error"
    assert [r["attempt"] for r in calls.rows] == [1, 2, 3]
    assert slept == [0.1, 0.2]


async def test_stdio_sessions_work_and_closing_stops_the_server_process(tmp_path: Path) -> None:
    command = stdio_command(tmp_path)
    manager, _calls, _ = manager_for(StdioTarget(command[0], tuple(command[1:])))
    me = psutil.Process(os.getpid())
    with anyio.fail_after(30):
        assert await manager.start() == {}
        children = [c for c in me.children(recursive=True) if "fault_servers" in " ".join(c.cmdline())]
        assert len(children) == 1
        result = await manager.call_tool("weather", "get_forecast", {"city": "Quito", "days": 3})
        await manager.aclose()
    assert not result.isError
    psutil.wait_procs(children, timeout=10)
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)


async def test_an_unknown_server_is_named() -> None:
    manager, _, _ = manager_for(HttpTarget("http://127.0.0.1:9/mcp"))
    with pytest.raises(KeyError, match="unknown MCP server 'nope'; known: weather"):
        await manager.call_tool("nope", "x", {})


async def test_list_tools_returns_the_servers_tools(http_server: Callable[..., HttpServer]) -> None:
    server = http_server()
    manager, _, _ = manager_for(HttpTarget(server.url))
    with anyio.fail_after(30):
        tools = await manager.list_tools("weather")
        await manager.aclose()
    assert {t.name for t in tools} == {"get_current_weather", "get_forecast"}

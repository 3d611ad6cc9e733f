"""The weather server over streamable HTTP, as a real process driven by a real MCP client."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from .conftest import STOP_WAIT_S, HttpServer, StartHttpServer

pytestmark = pytest.mark.integration

CALL_WAIT_S = 30.0


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def call_tools(server: HttpServer, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    """Open one MCP session to `server` and make `calls` in order."""
    results: list[CallToolResult] = []
    with anyio.fail_after(CALL_WAIT_S):
        async with (
            streamable_http_client(server.mcp_url) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            for tool, arguments in calls:
                results.append(await session.call_tool(tool, arguments))
    return results


def write_faults(tmp_path: Path, text: str) -> str:
    path = tmp_path / "faults.yaml"
    path.write_text(text)
    return str(path)


async def wait_for_exit(process: subprocess.Popen[bytes]) -> int:
    with anyio.fail_after(STOP_WAIT_S + 5):
        return await anyio.to_thread.run_sync(process.wait, STOP_WAIT_S)


async def test_the_http_server_answers_health_and_both_tools(start_http_server: StartHttpServer) -> None:
    server = start_http_server("--seed", "11")

    health = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5.0)
    current, forecast = await call_tools(
        server,
        [("get_current_weather", {"city": "Paris"}), ("get_forecast", {"city": "Paris", "days": 4})],
    )

    assert health.json() == {"status": "ok", "server": "weather"}
    assert not current.isError
    assert current.structuredContent is not None
    assert current.structuredContent["city"] == "Paris"
    assert not forecast.isError
    assert forecast.structuredContent is not None
    assert len(forecast.structuredContent["forecast"]) == 4


async def test_an_error_fault_with_probability_one_fails_the_call_with_its_message(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - kind: error\n    message: injected failure\n    tools: [get_forecast]\n"
    )
    server = start_http_server("--faults", faults)

    failed, untouched = await call_tools(
        server, [("get_forecast", {"city": "Oslo"}), ("get_current_weather", {"city": "Oslo"})]
    )

    assert failed.isError
    assert "injected failure" in text_of(failed)
    assert not untouched.isError


async def test_a_latency_fault_delays_the_call_by_at_least_its_delay(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    server = start_http_server(
        "--faults", write_faults(tmp_path, "faults:\n  - kind: latency\n    delay_s: 0.3\n")
    )

    with anyio.fail_after(CALL_WAIT_S):
        async with (
            streamable_http_client(server.mcp_url) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            started = time.monotonic()
            result = await session.call_tool("get_current_weather", {"city": "Lima"})
            elapsed_s = time.monotonic() - started

    assert not result.isError
    assert elapsed_s >= 0.3


async def test_two_processes_with_the_same_seed_inject_the_same_faults(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - kind: error\n    probability: 0.5\n")
    calls: list[tuple[str, dict[str, Any]]] = [("get_current_weather", {"city": "Rome"})] * 30
    patterns = []
    for _ in range(2):
        server = start_http_server("--seed", "5", "--faults", faults)
        patterns.append([result.isError for result in await call_tools(server, calls)])

    assert patterns[0] == patterns[1]
    assert 0 < sum(patterns[0]) < 30


async def test_sigterm_stops_the_server_with_exit_code_0(start_http_server: StartHttpServer) -> None:
    server = start_http_server()
    await call_tools(server, [("get_current_weather", {"city": "Paris"})])

    server.process.send_signal(signal.SIGTERM)
    code = await wait_for_exit(server.process)

    assert code == 0, server.log()
    assert "Traceback" not in server.log()
    with pytest.raises(ProcessLookupError):
        os.kill(server.process.pid, 0)


async def test_sigterm_stops_the_server_promptly_even_with_a_session_open(
    start_http_server: StartHttpServer,
) -> None:
    server = start_http_server()

    with anyio.fail_after(CALL_WAIT_S):
        async with (
            streamable_http_client(server.mcp_url) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            await session.call_tool("get_current_weather", {"city": "Paris"})
            server.process.send_signal(signal.SIGTERM)
            code = await wait_for_exit(server.process)

    assert code == 0, server.log()

"""The weather server over stdio, spawned by the MCP SDK's own stdio client."""

from __future__ import annotations

import select
import signal
import subprocess
import sys
from typing import Any

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .conftest import STOP_WAIT_S, serve_command

pytestmark = pytest.mark.integration

SESSION_WAIT_S = 30.0


async def tools_and_answers(seed: int) -> tuple[set[str], list[dict[str, Any] | None]]:
    """Spawn one stdio server, list its tools and call both; the process ends with the session."""
    command = serve_command("--seed", str(seed))
    params = StdioServerParameters(command=command[0], args=command[1:])
    with anyio.fail_after(SESSION_WAIT_S):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            current = await session.call_tool("get_current_weather", {"city": "Paris"})
            forecast = await session.call_tool("get_forecast", {"city": "Paris", "days": 7})
    assert not current.isError
    assert not forecast.isError
    return {tool.name for tool in tools.tools}, [current.structuredContent, forecast.structuredContent]


async def test_the_stdio_server_lists_and_serves_both_tools() -> None:
    names, (current, forecast) = await tools_and_answers(seed=3)

    assert names == {"get_current_weather", "get_forecast"}
    assert current is not None
    assert current["city"] == "Paris"
    assert forecast is not None
    assert len(forecast["forecast"]) == 7


async def test_two_stdio_processes_with_the_same_seed_give_the_same_answers() -> None:
    first = await tools_and_answers(seed=3)
    second = await tools_and_answers(seed=3)
    other_seed = await tools_and_answers(seed=4)

    assert first == second
    assert first[1] != other_seed[1]


def test_the_stdio_server_exits_0_when_stdin_closes() -> None:
    process = subprocess.Popen(
        serve_command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _, stderr = process.communicate(input=b"", timeout=STOP_WAIT_S + 10)
        assert process.returncode == 0, stderr.decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_WAIT_S)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_stdio_server_exits_0_on_sigterm_while_stdin_is_open() -> None:
    process = subprocess.Popen(
        serve_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        # A request that gets answered proves the server is serving, so the signal lands in the loop.
        process.stdin.write(
            b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
            b'"capabilities":{},"clientInfo":{"name":"test","version":"0"}}}\n'
        )
        process.stdin.flush()
        readable, _, _ = select.select([process.stdout], [], [], SESSION_WAIT_S)
        assert readable, "no answer to initialize"
        assert b'"id":1' in process.stdout.readline()
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_WAIT_S) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_WAIT_S)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()

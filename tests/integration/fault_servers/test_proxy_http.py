"""The HTTP fault proxy (``python -m fault_servers proxy --http-upstream URL --port N``) in front of a
real ``serve weather --transport http`` process, with a real MCP client through it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Protocol

import anyio
import httpx
import pytest
from mcp.shared.exceptions import McpError
from mcp.types import TextContent

from .conftest import HttpServer, StartHttpServer, free_port, stop, wait_until_healthy
from .helpers import http_session, leaves, read_rows, wait_for_exit, write_faults

pytestmark = pytest.mark.integration

WAIT_S = 30.0
SHORT_READ = timedelta(seconds=0.5)
CITY = {"city": "Oslo"}


class StartProxy(Protocol):
    def __call__(self, upstream: HttpServer, *args: str) -> HttpServer: ...


@pytest.fixture
def start_proxy(tmp_path: Path) -> Iterator[StartProxy]:
    """Start HTTP proxies in front of an upstream; every one is stopped at teardown, even on failure."""
    started: list[subprocess.Popen[bytes]] = []

    def start(upstream: HttpServer, *args: str) -> HttpServer:
        port = free_port()
        log_path = tmp_path / f"proxy-{port}.log"
        command = [sys.executable, "-m", "fault_servers", "proxy", "--http-upstream", upstream.mcp_url]
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--port", str(port), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        proxy = HttpServer(process=process, port=port, log_path=log_path)
        wait_until_healthy(proxy)
        return proxy

    try:
        yield start
    finally:
        for process in started:
            stop(process)


def text_of(content: object) -> str:
    assert isinstance(content, TextContent)
    return content.text


async def test_without_faults_the_proxy_answers_exactly_as_the_server_does(
    start_http_server: StartHttpServer, start_proxy: StartProxy
) -> None:
    upstream = start_http_server()
    proxy = start_proxy(upstream)

    with anyio.fail_after(WAIT_S):
        async with http_session(upstream.mcp_url) as direct:
            direct_tools = await direct.list_tools()
            direct_result = await direct.call_tool("get_forecast", {"city": "Oslo", "days": 3})
        async with http_session(proxy.mcp_url) as proxied:
            proxied_tools = await proxied.list_tools()
            proxied_result = await proxied.call_tool("get_forecast", {"city": "Oslo", "days": 3})

    assert proxied_tools == direct_tools
    assert proxied_result == direct_result


async def test_call_faults_are_carried_out_by_the_proxy(
    start_http_server: StartHttpServer, start_proxy: StartProxy, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path,
        "faults:\n"
        "  - {kind: error, message: injected failure, tools: [get_forecast]}\n"
        "  - {kind: latency, delay_s: 0.3, tools: [get_current_weather]}\n"
        "  - {kind: oversized, size_bytes: 100000, tools: [get_current_weather]}\n",
    )
    proxy = start_proxy(start_http_server(), "--faults", faults)

    with anyio.fail_after(WAIT_S):
        async with http_session(proxy.mcp_url) as session:
            failed = await session.call_tool("get_forecast", CITY)
            started = time.monotonic()
            padded = await session.call_tool("get_current_weather", CITY)
            delayed_s = time.monotonic() - started

    assert failed.isError and text_of(failed.content[0]) == "injected failure"
    assert not padded.isError
    assert len(text_of(padded.content[-1])) == 100_000
    assert delayed_s >= 0.3


async def test_a_hung_call_times_out_while_other_tools_still_answer(
    start_http_server: StartHttpServer, start_proxy: StartProxy, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: hang, tools: [get_forecast]}\n")
    proxy = start_proxy(start_http_server(), "--faults", faults)

    with anyio.fail_after(WAIT_S):
        async with http_session(proxy.mcp_url) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
            other = await session.call_tool("get_current_weather", CITY)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert not other.isError


async def test_an_http_status_fault_answers_429_before_the_upstream_sees_the_call(
    start_http_server: StartHttpServer, start_proxy: StartProxy, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - {kind: http_status, status: 429, retry_after_s: 7, tools: [get_forecast]}\n"
    )
    proxy = start_proxy(start_http_server(), "--faults", faults)

    with pytest.raises(BaseExceptionGroup) as caught, anyio.fail_after(WAIT_S):
        async with http_session(proxy.mcp_url) as session:
            assert not (await session.call_tool("get_current_weather", CITY)).isError
            await session.call_tool("get_forecast", CITY)

    statuses = [e.response.status_code for e in leaves(caught.value) if isinstance(e, httpx.HTTPStatusError)]
    assert statuses == [429]


async def test_a_crash_ends_the_proxy_with_its_code_and_its_fault_row_but_not_the_upstream(
    start_http_server: StartHttpServer, start_proxy: StartProxy, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 3, tools: [get_forecast]}\n")
    events = tmp_path / "events"
    upstream = start_http_server()
    proxy = start_proxy(upstream, "--faults", faults, "--events-dir", str(events), "--name", "px")

    with pytest.raises(BaseExceptionGroup), anyio.fail_after(WAIT_S):
        async with http_session(proxy.mcp_url) as session:
            await session.call_tool("get_forecast", CITY)
    code = await wait_for_exit(proxy.process)

    assert code == 3
    assert [(row["target"], row["kind"]) for row in read_rows(events)] == [("px", "crash")]
    assert upstream.process.poll() is None
    wait_until_healthy(upstream)


async def test_sigterm_ends_the_proxy_with_0(
    start_http_server: StartHttpServer, start_proxy: StartProxy
) -> None:
    proxy = start_proxy(start_http_server())

    proxy.process.send_signal(signal.SIGTERM)

    assert await wait_for_exit(proxy.process) == 0

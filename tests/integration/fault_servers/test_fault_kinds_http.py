"""Every fault kind over streamable HTTP: a real server process, a real MCP client (and raw httpx
where the HTTP exchange itself is the point), asserting what the client observes."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pydantic
import pytest
from mcp.shared.exceptions import McpError
from mcp.types import TextContent

from fault_servers.http_layer import NOT_JSON_BODY

from .conftest import HttpServer, StartHttpServer
from .helpers import PROTOCOL_VERSION, Received, http_session, leaves, read_rows, wait_for_exit, write_faults

pytestmark = pytest.mark.integration

WAIT_S = 20.0
SHORT_READ = timedelta(seconds=0.5)
CITY = {"city": "Oslo"}


async def raw_session(http: httpx.AsyncClient, server: HttpServer) -> dict[str, str]:
    """Initialize an MCP session with plain HTTP requests; returns the headers later requests need."""
    headers = {"accept": "application/json, text/event-stream"}
    params = {
        "protocolVersion": PROTOCOL_VERSION,
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"},
    }
    response = await http.post(
        server.mcp_url,
        json={"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params},
        headers=headers,
    )
    response.raise_for_status()
    headers["mcp-session-id"] = response.headers["mcp-session-id"]
    headers["mcp-protocol-version"] = PROTOCOL_VERSION
    await http.post(
        server.mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    return headers


def tools_call(tool: str, request_id: int = 2) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": CITY},
    }


def recovered(outcomes: list[str]) -> bool:
    """Whether a refusal was later followed by a success."""
    return "503" in outcomes and "ok" in outcomes[outcomes.index("503") :]


def status_errors(exc: BaseException) -> list[int]:
    return [e.response.status_code for e in leaves(exc) if isinstance(e, httpx.HTTPStatusError)]


async def test_latency_faults_delay_calls_by_at_least_their_fixed_or_heavy_tailed_minimum(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path,
        "faults:\n"
        "  - {kind: latency, delay_s: 0.3, tools: [get_forecast]}\n"
        "  - {kind: latency, distribution: pareto, min_s: 0.2, alpha: 1.5, max_s: 0.6, tools: [get_current_weather]}\n",
    )
    server = start_http_server("--faults", faults)

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url) as session:
            started = time.monotonic()
            fixed = await session.call_tool("get_forecast", CITY)
            fixed_s = time.monotonic() - started
            started = time.monotonic()
            heavy = await session.call_tool("get_current_weather", CITY)
            heavy_s = time.monotonic() - started

    assert not fixed.isError and not heavy.isError
    assert fixed_s >= 0.3
    assert heavy_s >= 0.2


async def test_a_jsonrpc_error_fault_raises_mcp_error_with_its_code(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: jsonrpc_error, code: -32050, message: db down}\n")
    server = start_http_server("--faults", faults)

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY)

    assert caught.value.error.code == -32050
    assert caught.value.error.message == "db down"


async def test_a_hang_fault_never_answers_so_the_client_times_out_while_other_tools_answer(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    server = start_http_server(
        "--faults", write_faults(tmp_path, "faults:\n  - {kind: hang, tools: [get_forecast]}\n")
    )

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url) as session:
            started = time.monotonic()
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
            waited_s = time.monotonic() - started
            other = await session.call_tool("get_current_weather", CITY)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert waited_s >= SHORT_READ.total_seconds()
    assert not other.isError


async def test_a_crash_fault_ends_the_process_with_its_exit_code_and_the_port_stops_answering(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 3, tools: [get_forecast]}\n")
    events = tmp_path / "events"
    server = start_http_server("--faults", faults, "--events-dir", str(events), "--name", "wx")

    with pytest.raises(BaseExceptionGroup) as caught:
        with anyio.fail_after(WAIT_S):
            async with http_session(server.mcp_url) as session:
                assert not (await session.call_tool("get_current_weather", CITY)).isError
                await session.call_tool("get_forecast", CITY)
    code = await wait_for_exit(server.process)

    assert any(isinstance(leaf, httpx.TransportError) for leaf in leaves(caught.value)), caught.value
    assert code == 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz", timeout=2.0)
    assert [(row["target"], row["kind"], row["window"]) for row in read_rows(events)] == [
        ("wx", "crash", "faults[0]")
    ]


async def test_a_slow_start_holds_initialize_while_healthz_answers_503(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    spawned_at = time.time()
    server = start_http_server(
        "--faults", write_faults(tmp_path, "faults:\n  - {kind: slow_start, delay_s: 1.5}\n"), ready=False
    )
    with anyio.fail_after(WAIT_S):
        while True:
            try:
                starting = httpx.get(f"{server.base_url}/healthz", timeout=2.0)
                break
            except httpx.TransportError:
                await anyio.sleep(0.05)
        async with http_session(server.mcp_url):
            initialized_at = time.time()
        ready = httpx.get(f"{server.base_url}/healthz", timeout=2.0)

    assert starting.status_code == 503
    assert int(starting.headers["retry-after"]) >= 1
    assert initialized_at >= spawned_at + 1.5
    assert ready.status_code == 200


async def test_flapping_refuses_with_503_while_down_and_serves_again_when_up(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - {kind: flapping, up_s: 0.4, down_s: 0.4, tools: [get_forecast]}\n"
    )
    server = start_http_server("--faults", faults)
    outcomes: list[str] = []

    with anyio.fail_after(WAIT_S):
        while not recovered(outcomes):
            try:
                async with http_session(server.mcp_url) as session:
                    await session.call_tool("get_forecast", CITY)
                outcomes.append("ok")
            except BaseExceptionGroup as group:
                assert status_errors(group) == [503], group
                outcomes.append("503")
            await anyio.sleep(0.05)
        async with httpx.AsyncClient(timeout=5.0) as http:
            headers = await raw_session(http, server)
            while (
                refused := await http.post(server.mcp_url, json=tools_call("get_forecast"), headers=headers)
            ).status_code == 200:
                await anyio.sleep(0.05)

    assert recovered(outcomes)
    assert (refused.status_code, refused.headers["retry-after"]) == (503, "1")


async def test_http_status_faults_answer_429_and_503_with_retry_after(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path,
        "faults:\n"
        "  - {kind: http_status, status: 429, retry_after_s: 7, tools: [get_forecast]}\n"
        "  - {kind: http_status, status: 503, retry_after_s: 3, tools: [get_current_weather]}\n",
    )
    server = start_http_server("--faults", faults)

    with anyio.fail_after(WAIT_S):
        async with httpx.AsyncClient(timeout=5.0) as http:
            headers = await raw_session(http, server)
            too_many = await http.post(server.mcp_url, json=tools_call("get_forecast"), headers=headers)
            unavailable = await http.post(
                server.mcp_url, json=tools_call("get_current_weather"), headers=headers
            )
        with pytest.raises(BaseExceptionGroup) as caught:
            async with http_session(server.mcp_url) as session:
                await session.call_tool("get_forecast", CITY)

    assert (too_many.status_code, too_many.headers["retry-after"]) == (429, "7")
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "3")
    assert status_errors(caught.value) == [429]


async def test_a_not_json_response_reaches_the_client_as_an_error_and_the_call_times_out(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: malformed, mode: not_json, tools: [get_forecast]}\n")
    server = start_http_server("--faults", faults)
    received = Received()

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url, received) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
            after = await session.call_tool("get_current_weather", CITY)
        async with httpx.AsyncClient(timeout=5.0) as http:
            headers = await raw_session(http, server)
            raw = await http.post(server.mcp_url, json=tools_call("get_forecast"), headers=headers)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert [type(exc) for exc in received.exceptions] == [pydantic.ValidationError]
    assert not after.isError
    assert (raw.status_code, raw.content) == (200, NOT_JSON_BODY)


async def test_a_wrong_shape_result_makes_the_client_raise_a_validation_error(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    server = start_http_server(
        "--faults", write_faults(tmp_path, "faults:\n  - {kind: malformed, mode: wrong_shape}\n")
    )

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url) as session:
            with pytest.raises(pydantic.ValidationError):
                await session.call_tool("get_forecast", CITY)


async def test_an_oversized_fault_delivers_a_payload_of_at_least_its_size(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    server = start_http_server(
        "--faults", write_faults(tmp_path, "faults:\n  - {kind: oversized, size_bytes: 2000000}\n")
    )

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url) as session:
            result = await session.call_tool("get_current_weather", CITY)

    padding = result.content[-1]
    assert not result.isError
    assert result.structuredContent is not None and result.structuredContent["city"] == "Oslo"
    assert isinstance(padding, TextContent) and len(padding.text) == 2_000_000


async def test_a_dropped_response_is_a_client_error_and_the_server_lives_on(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: drop_mid_response, tools: [get_forecast]}\n")
    server = start_http_server("--faults", faults)
    received = Received()

    with anyio.fail_after(WAIT_S):
        async with http_session(server.mcp_url, received) as session:
            with pytest.raises(McpError):
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
        async with httpx.AsyncClient(timeout=5.0) as http:
            headers = await raw_session(http, server)
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post(server.mcp_url, json=tools_call("get_forecast"), headers=headers)
        async with http_session(server.mcp_url) as session:
            after = await session.call_tool("get_current_weather", CITY)

    assert [type(exc) for exc in received.exceptions] == [httpx.RemoteProtocolError]
    assert not after.isError
    assert server.process.poll() is None
    assert "Traceback" not in server.log()

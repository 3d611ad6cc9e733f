"""Every fault kind over stdio: the SDK's stdio client spawns the real server, and raw pipes show
exactly what was written and how the process ended."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import anyio
import httpx
import pydantic
import pytest
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, TextContent

from fault_servers.stdio_layer import SERVER_UNAVAILABLE_CODE

from .conftest import serve_command
from .helpers import Received, raw_stdio, read_rows, stdio_session, write_faults

pytestmark = pytest.mark.integration

WAIT_S = 20.0
SHORT_READ = timedelta(seconds=0.5)
CITY = {"city": "Oslo"}


def text_of(content: object) -> str:
    assert isinstance(content, TextContent)
    return content.text


async def test_latency_faults_delay_calls_by_at_least_their_uniform_or_lognormal_minimum(
    tmp_path: Path,
) -> None:
    faults = write_faults(
        tmp_path,
        "faults:\n"
        "  - {kind: latency, min_s: 0.2, max_s: 0.4, tools: [get_forecast]}\n"
        "  - {kind: latency, distribution: lognormal, median_s: 0.3, sigma: 0.5, min_s: 0.2, max_s: 1.0,"
        " tools: [get_current_weather]}\n",
    )

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            started = time.monotonic()
            uniform = await session.call_tool("get_forecast", CITY)
            uniform_s = time.monotonic() - started
            started = time.monotonic()
            lognormal = await session.call_tool("get_current_weather", CITY)
            lognormal_s = time.monotonic() - started

    assert not uniform.isError and not lognormal.isError
    assert uniform_s >= 0.2
    assert lognormal_s >= 0.2


async def test_an_error_fault_answers_is_error_with_its_message(tmp_path: Path) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - {kind: error, message: injected failure, tools: [get_forecast]}\n"
    )

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            failed = await session.call_tool("get_forecast", CITY)
            untouched = await session.call_tool("get_current_weather", CITY)

    assert failed.isError
    assert text_of(failed.content[0]) == "injected failure"
    assert not untouched.isError


async def test_a_jsonrpc_error_fault_raises_mcp_error_with_its_code(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: jsonrpc_error, code: -32099, message: overloaded}\n")

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY)

    assert (caught.value.error.code, caught.value.error.message) == (-32099, "overloaded")


async def test_a_hang_fault_never_answers_so_the_client_times_out_while_other_tools_answer(
    tmp_path: Path,
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: hang, tools: [get_forecast]}\n")

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
            other = await session.call_tool("get_current_weather", CITY)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert not other.isError


async def test_a_crash_fault_closes_the_client_connection(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 4, tools: [get_forecast]}\n")

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            assert not (await session.call_tool("get_current_weather", CITY)).isError
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY)

    assert caught.value.error.code == CONNECTION_CLOSED


def test_a_crash_fault_exits_with_its_code_after_writing_its_fault_row(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 4, tools: [get_forecast]}\n")
    events = tmp_path / "events"

    with raw_stdio("--faults", faults, "--events-dir", str(events)) as server:
        server.initialize()
        server.call("get_forecast", CITY)
        written = server.read()
        code = server.wait()

    assert written == b""
    assert code == 4
    rows = read_rows(events)
    assert [(row["target"], row["kind"], row["pid"]) for row in rows] == [
        ("weather", "crash", server.process.pid)
    ]
    assert json.loads(rows[0]["params"]) == {
        "exit_code": 4,
        "probability": 1.0,
        "tools": ["get_forecast"],
        "trigger": "call",
    }


async def test_a_slow_start_delays_the_answer_to_initialize(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: slow_start, delay_s: 1.0}\n")

    with anyio.fail_after(WAIT_S):
        spawned = time.monotonic()
        async with stdio_session("--faults", faults) as session:
            initialized_s = time.monotonic() - spawned
            result = await session.call_tool("get_forecast", CITY)

    assert initialized_s >= 1.0
    assert not result.isError


async def test_flapping_answers_jsonrpc_errors_while_down_and_results_when_up_again(tmp_path: Path) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - {kind: flapping, up_s: 0.4, down_s: 0.4, tools: [get_forecast]}\n"
    )
    outcomes: list[str] = []
    refusals: list[McpError] = []

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            while not ("down" in outcomes and "up" in outcomes[outcomes.index("down") :]):
                try:
                    await session.call_tool("get_forecast", CITY)
                    outcomes.append("up")
                except McpError as exc:
                    refusals.append(exc)
                    outcomes.append("down")
                await anyio.sleep(0.05)

    assert {exc.error.code for exc in refusals} == {SERVER_UNAVAILABLE_CODE}
    assert refusals[0].error.data == {"retry_after_s": 1}


async def test_a_not_json_line_reaches_the_client_as_an_error_and_the_call_times_out(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: malformed, mode: not_json, tools: [get_forecast]}\n")
    received = Received()

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults, received=received) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=SHORT_READ)
            after = await session.call_tool("get_current_weather", CITY)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert [type(exc) for exc in received.exceptions] == [pydantic.ValidationError]
    assert not after.isError


async def test_a_wrong_shape_result_makes_the_client_raise_a_validation_error(tmp_path: Path) -> None:
    faults = write_faults(
        tmp_path, "faults:\n  - {kind: malformed, mode: wrong_shape, tools: [get_forecast]}\n"
    )

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            with pytest.raises(pydantic.ValidationError):
                await session.call_tool("get_forecast", CITY)
            after = await session.call_tool("get_current_weather", CITY)

    assert not after.isError


async def test_an_oversized_fault_delivers_a_payload_of_at_least_its_size(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: oversized, size_bytes: 2000000}\n")

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            result = await session.call_tool("get_forecast", CITY)

    assert not result.isError
    assert len(text_of(result.content[-1])) == 2_000_000


async def test_a_dropped_response_closes_the_client_connection(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: drop_mid_response, tools: [get_forecast]}\n")

    with anyio.fail_after(WAIT_S):
        async with stdio_session("--faults", faults) as session:
            with pytest.raises(McpError) as caught:
                await session.call_tool("get_forecast", CITY)

    assert caught.value.error.code == CONNECTION_CLOSED


def test_a_dropped_response_is_half_a_line_then_the_process_exits_1(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: drop_mid_response, tools: [get_forecast]}\n")

    with raw_stdio("--faults", faults) as server:
        server.initialize()
        request_id = server.call("get_forecast", CITY)
        written = server.read()
        code = server.wait()

    assert written.startswith(b'{"jsonrpc":"2.0","id":%d,"result":' % request_id)
    assert not written.endswith(b"\n")
    with pytest.raises(ValueError):
        json.loads(written)
    assert code == 1


def test_an_http_only_fault_is_refused_over_stdio_before_the_server_starts(tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "timeline:\n  - {at_s: 5, fault: {kind: http_status, status: 429}}\n")

    result = subprocess.run(
        serve_command("--transport", "stdio", "--faults", faults),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=WAIT_S,
    )

    assert result.returncode == 2
    assert f"{faults}: timeline[0].fault.kind: 'http_status' needs the http transport" in result.stderr
    assert result.stdout == ""

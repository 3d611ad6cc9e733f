"""The fault layers in-process: the call layer through an in-memory MCP session, the HTTP middleware
and control endpoint through an ASGI transport, the stdio loop through in-memory pipes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pydantic
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream
from mcp.server.fastmcp import FastMCP
from mcp.shared.exceptions import McpError
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import TextContent

from fault_servers import FaultInjector, parse_faults
from fault_servers.call_layer import install_call_faults, padding
from fault_servers.control import ControlApp, is_loopback_address
from fault_servers.events import FaultEventLog
from fault_servers.http_layer import FaultMiddleware, inspect_message
from fault_servers.runtime import FaultRuntime
from fault_servers.stdio_layer import NOT_JSON_LINE, SERVER_UNAVAILABLE_CODE, fault_stdio_server
from fault_servers.weather import TOOL_NAMES, build_weather_server

RUN_START = 1_000.0
CITY = {"city": "Lima"}


class FakeClock:
    def __init__(self, now: float = RUN_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.calls.append(delay_s)


class Exited(Exception):
    pass


class RecordingExit:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, exit_code: int) -> None:
        self.codes.append(exit_code)
        raise Exited(exit_code)


def make_runtime(
    data: dict[str, Any],
    *,
    clock: FakeClock | None = None,
    sleep: RecordingSleep | None = None,
    exit: RecordingExit | None = None,
    transport: str = "http",
) -> FaultRuntime:
    injector = FaultInjector.seeded(
        parse_faults(data, "f"), 0, clock=clock or FakeClock(), run_start_s=RUN_START
    )
    return FaultRuntime(
        injector,
        target="weather",
        tool_names=TOOL_NAMES,
        transport=transport,
        events=FaultEventLog(None, "weather"),
        sleep=sleep or RecordingSleep(),
        exit=exit or RecordingExit(),
    )


def faulty_server(data: dict[str, Any], **kwargs: Any) -> tuple[FastMCP, FaultRuntime]:
    server = build_weather_server(0, None)
    runtime = make_runtime(data, **kwargs)
    install_call_faults(server, runtime)
    return server, runtime


# -- call layer ---------------------------------------------------------------------------------


async def test_the_call_layer_sleeps_the_delay_through_the_runtime_sleep() -> None:
    sleep = RecordingSleep()
    server, _ = faulty_server({"faults": [{"kind": "latency", "delay_s": 0.25}]}, sleep=sleep)

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            result = await session.call_tool("get_current_weather", CITY)

    assert not result.isError
    assert sleep.calls == [0.25]


async def test_the_call_layer_answers_an_error_with_exactly_its_message() -> None:
    server, _ = faulty_server({"faults": [{"kind": "error", "message": "nope", "tools": ["get_forecast"]}]})

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            failed = await session.call_tool("get_forecast", CITY)
            fine = await session.call_tool("get_current_weather", CITY)

    assert failed.isError and failed.content == [TextContent(type="text", text="nope")]
    assert not fine.isError


async def test_the_call_layer_answers_a_jsonrpc_error_outside_the_tool() -> None:
    server, _ = faulty_server({"faults": [{"kind": "jsonrpc_error", "code": -32010, "message": "gone"}]})

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10), pytest.raises(McpError) as caught:
            await session.call_tool("get_forecast", CITY)

    assert (caught.value.error.code, caught.value.error.message) == (-32010, "gone")


async def test_the_call_layer_answers_a_wrong_shape_that_the_client_rejects() -> None:
    server, _ = faulty_server({"faults": [{"kind": "malformed", "mode": "wrong_shape"}]})

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10), pytest.raises(pydantic.ValidationError):
            await session.call_tool("get_forecast", CITY)


async def test_the_call_layer_pads_a_real_result_to_the_oversized_size() -> None:
    server, _ = faulty_server({"faults": [{"kind": "oversized", "size_bytes": 1000}]})

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            result = await session.call_tool("get_current_weather", CITY)

    assert result.structuredContent is not None and result.structuredContent["city"] == "Lima"
    assert result.content[-1] == TextContent(type="text", text=padding(1000))
    assert len(padding(1000)) == 1000


async def test_the_call_layer_hangs_a_call_until_the_client_gives_up() -> None:
    server, _ = faulty_server({"faults": [{"kind": "hang", "tools": ["get_forecast"]}]})

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            with pytest.raises(McpError, match="Timed out"):
                await session.call_tool("get_forecast", CITY, read_timeout_seconds=timedelta(seconds=0.1))
            assert not (await session.call_tool("get_current_weather", CITY)).isError


async def test_the_call_layer_exits_with_the_crash_code() -> None:
    exit = RecordingExit()
    server, _ = faulty_server({"faults": [{"kind": "crash", "exit_code": 12}]}, exit=exit)

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10), pytest.raises(McpError):
            await session.call_tool("get_forecast", CITY)

    assert exit.codes == [12]


# -- HTTP layer and control endpoint ------------------------------------------------------------


def http_client(runtime: FaultRuntime, client: tuple[str, int] = ("127.0.0.1", 50000)) -> httpx.AsyncClient:
    server = build_weather_server(0, None)
    app = FaultMiddleware(server.streamable_http_app(), runtime, control=ControlApp(runtime))
    transport = httpx.ASGITransport(app=app, client=client)
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


def rpc(method: str, params: dict[str, Any] | None = None, request_id: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if request_id is not None:
        message["id"] = request_id
    return message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "::1"])
def test_loopback_addresses_may_use_the_control_endpoint(host: str) -> None:
    assert is_loopback_address(host)


@pytest.mark.parametrize("host", ["10.0.0.1", "0.0.0.0", "localhost", "", None])
def test_other_addresses_may_not(host: str | None) -> None:
    assert not is_loopback_address(host)


async def test_the_control_endpoint_refuses_non_loopback_clients_with_403() -> None:
    async with http_client(make_runtime({"faults": []}), client=("192.168.1.9", 4000)) as http:
        with anyio.fail_after(10):
            get = await http.get("/control/faults")
            put = await http.put("/control/faults", json={"faults": [{"kind": "crash"}]})

    assert (get.status_code, put.status_code) == (403, 403)
    assert "loopback" in get.json()["error"]


async def test_the_control_endpoint_answers_404_405_and_400_for_what_it_does_not_take() -> None:
    async with http_client(make_runtime({"faults": []})) as http:
        with anyio.fail_after(10):
            missing = await http.get("/control/other")
            wrong_method = await http.post("/control/faults", json={})
            not_json = await http.put("/control/faults", content=b"faults: []")
            not_a_plan = await http.put("/control/faults", json=[1])

    assert missing.status_code == 404
    assert (wrong_method.status_code, wrong_method.headers["allow"]) == (405, "GET, PUT")
    assert not_json.status_code == 400 and "expected a fault file as JSON" in not_json.json()["error"]
    assert not_a_plan.json()["error"].startswith("PUT /control/faults: (top level): expected a mapping")


async def test_the_control_endpoint_replaces_the_plan_and_shows_it() -> None:
    runtime = make_runtime({"faults": []})
    plan = {"faults": [{"kind": "error", "probability": 0.25}]}

    async with http_client(runtime) as http:
        with anyio.fail_after(10):
            put = await http.put("/control/faults", json=plan)
            get = await http.get("/control/faults")

    assert put.status_code == 200
    assert get.json()["plan"] == parse_faults(plan, "x").to_data()
    assert get.json()["source"] == "PUT /control/faults"


async def test_healthz_answers_503_with_retry_after_during_a_slow_start() -> None:
    clock = FakeClock()
    runtime = make_runtime({"faults": [{"kind": "slow_start", "delay_s": 2.5}]}, clock=clock)

    async with http_client(runtime) as http:
        with anyio.fail_after(10):
            starting = await http.get("/healthz")
            clock.now += 2.5
            ready = await http.get("/healthz")

    assert (starting.status_code, starting.headers["retry-after"], starting.json()) == (
        503,
        "3",
        {"status": "starting"},
    )
    assert ready.status_code == 200


async def test_a_refused_request_gets_the_status_and_retry_after_without_reaching_the_server() -> None:
    runtime = make_runtime(
        {"faults": [{"kind": "http_status", "status": 429, "retry_after_s": 4, "tools": ["get_forecast"]}]}
    )

    async with http_client(runtime) as http:
        with anyio.fail_after(10):
            refused = await http.post(
                "/mcp", json=rpc("tools/call", {"name": "get_forecast", "arguments": CITY})
            )

    assert (refused.status_code, refused.headers["retry-after"]) == (429, "4")
    assert "http_status" in refused.json()["error"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (json.dumps(rpc("tools/call", {"name": "get_forecast"})).encode(), (True, "get_forecast")),
        (json.dumps(rpc("initialize")).encode(), (True, None)),
        (json.dumps(rpc("notifications/initialized", request_id=None)).encode(), (False, None)),
        (b'{"jsonrpc": "2.0", "id": 1, "result": {}}', (False, None)),
        (b"[1, 2]", (False, None)),
        (b"\xff not json", (False, None)),
    ],
    ids=["tool call", "other request", "notification", "response", "batch", "garbage"],
)
def test_the_http_layer_only_faults_json_rpc_requests(body: bytes, expected: tuple[bool, str | None]) -> None:
    assert inspect_message(body) == expected


# -- stdio layer --------------------------------------------------------------------------------


class FakeStdin:
    """Lines fed by the test; iteration ends when the test closes it."""

    def __init__(self, lines: MemoryObjectReceiveStream[str]) -> None:
        self.lines = lines

    async def __aiter__(self) -> AsyncIterator[str]:
        async with self.lines:
            async for line in self.lines:
                yield line


class FakeStdout:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, text: str) -> None:
        self.text += text

    async def flush(self) -> None:
        pass

    def lines(self) -> list[str]:
        return self.text.split("\n")


INITIALIZE = rpc(
    "initialize",
    {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
)


async def run_stdio(
    runtime: FaultRuntime, messages: list[dict[str, Any]], answers: int, stdout: FakeStdout | None = None
) -> FakeStdout:
    """Serve the weather server over the fault stdio loop; feed `messages`, stop once `answers` lines are out."""
    server = build_weather_server(0, None)
    install_call_faults(server, runtime)
    lowlevel = server._mcp_server
    feed, lines = anyio.create_memory_object_stream[str](10)
    stdout = stdout or FakeStdout()
    stdio = fault_stdio_server(runtime, FakeStdin(lines), stdout)  # type: ignore[arg-type]
    with anyio.fail_after(10):
        async with stdio as (read, write), anyio.create_task_group() as tg:
            tg.start_soon(lowlevel.run, read, write, lowlevel.create_initialization_options())
            for message in messages:
                await feed.send(json.dumps(message) + "\n")
            while stdout.text.count("\n") < answers:
                await anyio.sleep(0.01)
            await feed.aclose()
    return stdout


async def test_stdio_answers_a_request_in_a_flapping_down_phase_with_a_jsonrpc_error() -> None:
    clock = FakeClock(RUN_START + 1.5)
    runtime = make_runtime(
        {"faults": [{"kind": "flapping", "up_s": 1, "down_s": 1, "tools": ["get_forecast"]}]}, clock=clock
    )
    call = rpc("tools/call", {"name": "get_forecast", "arguments": CITY}, request_id=2)

    stdout = await run_stdio(
        runtime, [INITIALIZE, rpc("notifications/initialized", request_id=None), call], answers=2
    )

    initialize, refused = (json.loads(line) for line in stdout.lines()[:2])
    assert initialize["result"]["serverInfo"]["name"] == "weather"
    assert refused["id"] == 2
    assert refused["error"]["code"] == SERVER_UNAVAILABLE_CODE
    assert refused["error"]["data"] == {"retry_after_s": 1}


async def test_stdio_replaces_a_not_json_response_with_a_line_that_is_not_json() -> None:
    runtime = make_runtime({"faults": [{"kind": "malformed", "mode": "not_json"}]}, transport="stdio")

    stdout = await run_stdio(runtime, [INITIALIZE], answers=1)

    assert stdout.lines()[:2] == [NOT_JSON_LINE, ""]


async def test_stdio_writes_half_a_dropped_response_then_exits_1() -> None:
    exit = RecordingExit()
    runtime = make_runtime({"faults": [{"kind": "drop_mid_response"}]}, exit=exit, transport="stdio")
    stdout = FakeStdout()

    with pytest.raises(BaseExceptionGroup) as caught:
        await run_stdio(runtime, [INITIALIZE], answers=1, stdout=stdout)

    assert exit.codes == [1]
    assert caught.group_contains(Exited)
    assert stdout.text.startswith('{"jsonrpc":"2.0","id":1,"result":')
    assert "\n" not in stdout.text

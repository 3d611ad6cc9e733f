"""The stdio fault proxy in front of a server that is not one of ours: a tiny MCP server written here
with the SDK's low-level API. A real SDK client talks through ``python -m fault_servers proxy``;
raw pipes show exactly what was written and how the processes ended."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import psutil
import pydantic
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, CallToolResult, LoggingMessageNotificationParams, TextContent

from fault_servers.stdio_layer import NOT_JSON_LINE, SERVER_UNAVAILABLE_CODE

from .conftest import STOP_WAIT_S, serve_command, stop
from .helpers import RawStdio, Received, read_rows, write_faults

pytestmark = pytest.mark.integration

WAIT_S = 30.0
SHORT_READ = timedelta(seconds=0.5)
HI = {"text": "hi"}

THIRD_PARTY_SERVER = '''\
"""A stdio MCP server written with the SDK's low-level API (not one of chaosbench's)."""
import os
import sys

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

server = Server("third-party")
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
CODE = {"type": "object", "properties": {"code": {"type": "integer"}}, "required": ["code"]}


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return [
        types.Tool(name="echo", description="The text back.", inputSchema=TEXT),
        types.Tool(name="shout", description="The text in capitals.", inputSchema=TEXT),
        types.Tool(name="log", description="Log the text, then echo it.", inputSchema=TEXT),
        types.Tool(name="exit", description="End the process with the code.", inputSchema=CODE),
    ]


@server.call_tool()
async def call_tool(name: str, arguments: dict) -> list[types.TextContent]:
    if name == "exit":
        os._exit(arguments["code"])
    if name == "log":
        await server.request_context.session.send_log_message(level="info", data=arguments["text"])
    text = arguments["text"]
    return [types.TextContent(type="text", text=text.upper() if name == "shout" else text)]


async def main() -> None:
    print("third-party server ready", file=sys.stderr, flush=True)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
'''


@pytest.fixture
def server_path(tmp_path: Path) -> Path:
    path = tmp_path / "third_party_server.py"
    path.write_text(THIRD_PARTY_SERVER)
    return path


def proxy_command(server_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "fault_servers", "proxy", *args, "--", sys.executable, str(server_path)]


def text_of(result: CallToolResult, index: int = 0) -> str:
    content = result.content[index]
    assert isinstance(content, TextContent)
    return content.text


def alive(marker: str) -> list[psutil.Process]:
    """Running (non-zombie) processes whose command line mentions `marker` (a test's own tmp path)."""
    found: list[psutil.Process] = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(marker in part for part in cmdline):
            found.append(process)
    return found


async def wait_gone(marker: str, timeout_s: float = STOP_WAIT_S) -> list[psutil.Process]:
    """Wait (bounded) until no process mentions `marker`; returns those still alive then."""
    deadline = time.monotonic() + timeout_s
    while (left := alive(marker)) and time.monotonic() < deadline:
        await anyio.sleep(0.05)
    return left


@asynccontextmanager
async def session(command: list[str], **kwargs: Any) -> AsyncIterator[ClientSession]:
    """An initialized SDK session over stdio with the process `command` starts."""
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with stdio_client(params) as (read, write), ClientSession(read, write, **kwargs) as client:
        await client.initialize()
        yield client


@contextmanager
def raw_proxy(server_path: Path, *args: str, stderr: Path | None = None) -> Iterator[RawStdio]:
    """The proxy with pipes, driven line by line; always stopped (SIGTERM, then SIGKILL) at the end."""
    log = stderr.open("wb") if stderr is not None else None
    process = subprocess.Popen(
        proxy_command(server_path, *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    try:
        yield RawStdio(process)
    finally:
        stop(process)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if log is not None:
            log.close()


# ---------------------------------------------------------------- no faults


async def test_without_faults_the_proxy_answers_exactly_as_the_server_does(server_path: Path) -> None:
    with anyio.fail_after(WAIT_S):
        async with session([sys.executable, str(server_path)]) as direct:
            direct_tools = await direct.list_tools()
            direct_results = [await direct.call_tool(tool, HI) for tool in ("echo", "shout")]
        async with session(proxy_command(server_path)) as proxied:
            proxied_tools = await proxied.list_tools()
            proxied_results = [await proxied.call_tool(tool, HI) for tool in ("echo", "shout")]

    assert proxied_tools == direct_tools
    assert proxied_results == direct_results
    assert [text_of(result) for result in proxied_results] == ["hi", "HI"]


async def test_server_notifications_reach_the_client_through_the_proxy(server_path: Path) -> None:
    logged: list[LoggingMessageNotificationParams] = []

    async def on_log(params: LoggingMessageNotificationParams) -> None:
        logged.append(params)

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path), logging_callback=on_log) as client:
            result = await client.call_tool("log", {"text": "noted"})

    assert text_of(result) == "noted"
    assert [entry.data for entry in logged] == ["noted"]


def test_the_childs_stderr_is_the_proxys_stderr(server_path: Path, tmp_path: Path) -> None:
    log = tmp_path / "proxy.err"

    with raw_proxy(server_path, stderr=log) as proxy:
        proxy.initialize()

    assert "third-party server ready" in log.read_text()


# ---------------------------------------------------------------- call faults


async def test_an_error_fault_is_answered_is_error_and_other_tools_are_untouched(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: error, message: injected failure, tools: [shout]}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            failed = await client.call_tool("shout", HI)
            untouched = await client.call_tool("echo", HI)

    assert failed.isError
    assert text_of(failed) == "injected failure"
    assert not untouched.isError and text_of(untouched) == "hi"


async def test_a_jsonrpc_error_fault_raises_mcp_error_with_its_code(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: jsonrpc_error, code: -32099, message: overloaded}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            with pytest.raises(McpError) as caught:
                await client.call_tool("echo", HI)

    assert caught.value.error.code == -32099
    assert caught.value.error.message == "overloaded"


async def test_latency_delays_the_call_but_not_the_calls_behind_it(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: latency, delay_s: 0.5, tools: [shout]}\n")
    finished: list[str] = []

    async def call(client: ClientSession, tool: str) -> None:
        await client.call_tool(tool, HI)
        finished.append(tool)

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            started = time.monotonic()
            await client.call_tool("shout", HI)
            delayed_s = time.monotonic() - started
            async with anyio.create_task_group() as tg:
                tg.start_soon(call, client, "shout")
                await anyio.sleep(0.05)
                tg.start_soon(call, client, "echo")

    assert delayed_s >= 0.5
    assert finished == ["echo", "shout"]


async def test_a_hung_call_times_out_while_other_tools_still_answer(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: hang, tools: [shout]}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            with pytest.raises(McpError) as caught:
                await client.call_tool("shout", HI, read_timeout_seconds=SHORT_READ)
            other = await client.call_tool("echo", HI)

    assert caught.value.error.code == httpx.codes.REQUEST_TIMEOUT
    assert text_of(other) == "hi"


async def test_a_crash_closes_the_connection_and_leaves_no_process(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 4, tools: [shout]}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            assert len(alive(str(server_path))) == 2  # the proxy and the server it wraps
            assert text_of(await client.call_tool("echo", HI)) == "hi"
            with pytest.raises(McpError) as caught:
                await client.call_tool("shout", HI)
            left = await wait_gone(str(server_path))  # before the client's own cleanup could act

    assert caught.value.error.code == CONNECTION_CLOSED
    assert left == []


def test_a_crash_exits_with_its_code_after_writing_its_fault_row(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: crash, exit_code: 4, tools: [shout]}\n")
    events = tmp_path / "events"

    with raw_proxy(
        server_path, "--faults", faults, "--events-dir", str(events), "--name", "wrapped"
    ) as proxy:
        proxy.initialize()
        proxy.call("shout", HI)
        written = proxy.read()
        code = proxy.wait()

    assert written == b""
    assert code == 4
    rows = read_rows(events)
    assert [(row["target"], row["kind"], row["pid"]) for row in rows] == [
        ("wrapped", "crash", proxy.process.pid)
    ]
    assert alive(str(server_path)) == []


def test_a_crash_window_open_at_start_ends_the_proxy_before_the_server_starts(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(
        tmp_path, "timeline:\n  - {at_s: 0, for_s: 60, fault: {kind: crash, exit_code: 9}}\n"
    )

    with raw_proxy(server_path, "--faults", faults, "--run-start", str(time.time())) as proxy:
        code = proxy.wait()

    assert code == 9
    assert alive(str(server_path)) == []


async def test_a_wrong_shape_result_makes_the_client_raise_a_validation_error(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: malformed, mode: wrong_shape, tools: [shout]}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            with pytest.raises(pydantic.ValidationError):
                await client.call_tool("shout", HI)
            after = await client.call_tool("echo", HI)

    assert text_of(after) == "hi"


async def test_an_oversized_fault_appends_a_block_of_its_size_to_the_servers_result(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: oversized, size_bytes: 2000000}\n")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            result = await client.call_tool("shout", HI)

    assert not result.isError
    assert text_of(result, 0) == "HI"
    assert len(text_of(result, -1)) == 2_000_000


# ---------------------------------------------------------------- wire and lifecycle faults


async def test_flapping_refuses_with_retry_after_while_down(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: flapping, up_s: 1, down_s: 60, tools: [shout]}\n")
    run_start = str(time.time() - 2)  # the first down phase began 1 s ago

    with anyio.fail_after(WAIT_S):
        async with session(
            proxy_command(server_path, "--faults", faults, "--run-start", run_start)
        ) as client:
            with pytest.raises(McpError) as caught:
                await client.call_tool("shout", HI)
            other = await client.call_tool("echo", HI)

    assert caught.value.error.code == SERVER_UNAVAILABLE_CODE
    data = caught.value.error.data
    assert isinstance(data, dict) and 50 <= data["retry_after_s"] <= 59  # seconds left in the down phase
    assert text_of(other) == "hi"


def test_a_not_json_fault_replaces_the_answer_line(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: malformed, mode: not_json, tools: [shout]}\n")

    with raw_proxy(server_path, "--faults", faults) as proxy:
        proxy.initialize()
        proxy.call("shout", HI)
        mangled = proxy.read()
        request_id = proxy.call("echo", HI)
        untouched = json.loads(proxy.read())

    assert mangled == NOT_JSON_LINE.encode() + b"\n"
    assert untouched["id"] == request_id
    assert untouched["result"]["content"][0]["text"] == "hi"


def test_a_dropped_response_is_half_a_line_then_the_proxy_exits_1_without_its_child(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: drop_mid_response, tools: [shout]}\n")

    with raw_proxy(server_path, "--faults", faults) as proxy:
        proxy.initialize()
        request_id = proxy.call("shout", HI)
        written = proxy.read()
        code = proxy.wait()

    assert written.startswith(b'{"jsonrpc":"2.0","id":%d,"result":' % request_id)
    assert not written.endswith(b"\n")
    assert code == 1
    assert alive(str(server_path)) == []


async def test_a_slow_start_delays_the_answer_to_initialize(server_path: Path, tmp_path: Path) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: slow_start, delay_s: 1.0}\n")

    with anyio.fail_after(WAIT_S):
        spawned = time.monotonic()
        async with session(proxy_command(server_path, "--faults", faults)) as client:
            initialized_s = time.monotonic() - spawned
            result = await client.call_tool("echo", HI)

    assert initialized_s >= 1.0
    assert text_of(result) == "hi"


async def test_the_proxy_draws_the_same_faults_as_a_fault_server_with_the_same_seed(
    server_path: Path, tmp_path: Path
) -> None:
    faults = write_faults(tmp_path, "faults:\n  - {kind: error, probability: 0.5}\n")
    args = ("--faults", faults, "--seed", "3")

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path, *args)) as proxied:
            through_proxy = [(await proxied.call_tool("echo", HI)).isError for _ in range(30)]
        async with session(serve_command("--transport", "stdio", *args)) as served:
            by_server = [
                (await served.call_tool("get_forecast", {"city": "Oslo"})).isError for _ in range(30)
            ]

    assert through_proxy == by_server
    assert 0 < sum(through_proxy) < 30


# ---------------------------------------------------------------- ending


def test_closing_stdin_ends_the_proxy_with_0_and_its_child_too(server_path: Path) -> None:
    with raw_proxy(server_path) as proxy:
        proxy.initialize()
        assert len(alive(str(server_path))) == 2
        assert proxy.process.stdin is not None
        proxy.process.stdin.close()
        code = proxy.wait()

    assert code == 0
    assert alive(str(server_path)) == []


async def test_closing_an_sdk_client_leaves_no_process(server_path: Path) -> None:
    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path)) as client:
            await client.call_tool("echo", HI)
            assert len(alive(str(server_path))) == 2
        left = await wait_gone(str(server_path))

    assert left == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_the_proxy_with_0_and_stops_its_child(server_path: Path, signum: int) -> None:
    with raw_proxy(server_path) as proxy:
        proxy.initialize()
        proxy.process.send_signal(signum)
        code = proxy.wait()

    assert code == 0
    assert alive(str(server_path)) == []


def test_when_the_child_exits_the_proxy_exits_with_its_code(server_path: Path) -> None:
    with raw_proxy(server_path) as proxy:
        proxy.initialize()
        proxy.call("exit", {"code": 5})
        written = proxy.read()
        code = proxy.wait()

    assert written == b""
    assert code == 5
    assert alive(str(server_path)) == []


async def test_a_client_sees_the_connection_close_when_the_wrapped_server_dies(server_path: Path) -> None:
    received = Received()

    with anyio.fail_after(WAIT_S):
        async with session(proxy_command(server_path), message_handler=received) as client:
            with pytest.raises(McpError) as caught:
                await client.call_tool("exit", {"code": 3})
            left = await wait_gone(str(server_path))

    assert caught.value.error.code == CONNECTION_CLOSED
    assert left == []


def test_chaosbench_proxy_hands_over_to_the_fault_servers_proxy(server_path: Path, tmp_path: Path) -> None:
    chaosbench = Path(sys.executable).parent / "chaosbench"
    if not chaosbench.exists():
        pytest.skip(f"the chaosbench entry point is not installed beside {sys.executable}")
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"},
        },
    }
    requests = tmp_path / "requests.jsonl"
    requests.write_text(json.dumps(initialize) + "\n")

    with requests.open("rb") as stdin:
        proc = subprocess.run(
            [str(chaosbench), "proxy", "--", sys.executable, str(server_path)],
            stdin=stdin,
            capture_output=True,
            timeout=WAIT_S,
            check=False,
        )

    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["result"]["serverInfo"]["name"] == "third-party"

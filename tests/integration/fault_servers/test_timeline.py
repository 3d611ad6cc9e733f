"""Fault timelines across real processes: windows at offsets from --run-start, the faults table as
written, crash windows, and live changes through the HTTP control endpoint."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import TextContent

from .conftest import StartHttpServer
from .helpers import http_session, raw_stdio, read_rows, stdio_session, wait_for_exit, write_faults

pytestmark = pytest.mark.integration

WAIT_S = 25.0
CITY = {"city": "Oslo"}
ROW_KEYS = {"t_start", "t_end", "target", "kind", "params", "window", "pid"}

Call = tuple[float, float, bool]


async def call_until(session: ClientSession, until: float, calls: list[Call]) -> None:
    """Call get_current_weather every 50 ms until the wall clock passes `until`, noting (sent, answered, isError)."""
    while time.time() < until:
        sent = time.time()
        result = await session.call_tool("get_current_weather", CITY)
        calls.append((sent, time.time(), result.isError))
        await anyio.sleep(0.05)


def split(calls: list[Call], start: float, end: float) -> tuple[list[bool], list[bool]]:
    """isError of the calls wholly inside [start, end) and of those wholly outside; calls across an edge are left out."""
    inside = [error for sent, answered, error in calls if start <= sent and answered < end]
    outside = [error for sent, answered, error in calls if answered < start or sent >= end]
    return inside, outside


async def test_a_respawned_stdio_server_follows_the_same_timeline(tmp_path: Path) -> None:
    run_start = time.time()
    start, end = run_start + 1.5, run_start + 3.5
    faults = write_faults(
        tmp_path,
        "timeline:\n  - {at_s: 1.5, for_s: 2.0, fault: {kind: error, tools: [get_current_weather]}}\n",
    )
    events = tmp_path / "events"
    args = ("--faults", faults, "--run-start", repr(run_start), "--events-dir", str(events), "--name", "wx")
    first: list[Call] = []
    second: list[Call] = []

    with anyio.fail_after(WAIT_S):
        async with stdio_session(*args) as session:
            await call_until(session, start + 0.5, first)
        async with stdio_session(*args) as session:  # a pool respawning the server mid-window
            await call_until(session, end + 0.5, second)

    first_inside, first_outside = split(first, start, end)
    second_inside, second_outside = split(second, start, end)
    assert first_inside and all(first_inside)
    assert second_inside and all(second_inside)
    assert second_outside and not any(first_outside + second_outside)
    rows = read_rows(events)
    assert [(row["target"], row["kind"], row["window"]) for row in rows] == [
        ("wx", "error", "timeline[0]")
    ] * 2
    assert rows[0]["t_start"] == pytest.approx(start)
    assert start + 0.5 <= rows[0]["t_end"] < end
    assert start < rows[1]["t_start"] < end
    assert rows[1]["t_end"] == pytest.approx(end)


def test_fault_rows_are_written_when_a_window_ends_and_for_static_faults_on_sigterm(tmp_path: Path) -> None:
    run_start = time.time() + 1.2
    faults = write_faults(
        tmp_path,
        "faults:\n  - {kind: latency, delay_s: 0.01}\n"
        "timeline:\n"
        "  - {at_s: 0, for_s: 0.3, fault: {kind: error, probability: 0.5}}\n"
        "  - {at_s: 100, fault: {kind: hang}}\n",
    )
    events = tmp_path / "events"

    with raw_stdio("--faults", faults, "--run-start", repr(run_start), "--events-dir", str(events)) as server:
        server.initialize()
        time.sleep(max(0.0, run_start + 0.6 - time.time()))
        while_running = read_rows(events)
        server.process.send_signal(signal.SIGTERM)
        code = server.wait()
        stopped_at = time.time()
    rows = read_rows(events)

    assert code == 0
    assert [row["window"] for row in while_running] == ["timeline[0]"]
    assert [row["window"] for row in rows] == ["timeline[0]", "faults[0]"]
    window, static = rows
    assert set(window) == set(static) == ROW_KEYS
    assert (window["t_start"], window["t_end"]) == (pytest.approx(run_start), pytest.approx(run_start + 0.3))
    assert (window["kind"], window["params"]) == (
        "error",
        json.dumps(json.loads(window["params"]), sort_keys=True),
    )
    assert json.loads(window["params"]) == {
        "message": "injected fault: error",
        "probability": 0.5,
        "tools": [],
    }
    assert static["kind"] == "latency" and static["target"] == "weather"
    assert static["t_start"] < run_start < run_start + 0.6 < static["t_end"] <= stopped_at


async def test_an_http_crash_window_ends_the_process_when_it_opens_and_every_process_started_in_it(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    run_start = time.time()
    faults = write_faults(tmp_path, "timeline:\n  - {at_s: 1.5, fault: {kind: crash, exit_code: 7}}\n")
    events = tmp_path / "events"
    args = ("--faults", faults, "--run-start", repr(run_start), "--events-dir", str(events))

    server = start_http_server(*args, ready=False)
    code = await wait_for_exit(server.process)
    exited_at = time.time()
    respawned = start_http_server(*args, ready=False)
    respawned_code = await wait_for_exit(respawned.process)

    assert code == 7 == respawned_code
    assert exited_at >= run_start + 1.5
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.base_url}/healthz", timeout=2.0)
    rows = read_rows(events)
    assert sorted(row["pid"] for row in rows) == sorted([server.process.pid, respawned.process.pid])
    assert {(row["kind"], row["window"]) for row in rows} == {("crash", "timeline[0]")}
    assert all(row["t_start"] >= run_start + 1.5 for row in rows)


async def test_the_control_endpoint_shows_and_replaces_the_live_plan(
    start_http_server: StartHttpServer, tmp_path: Path
) -> None:
    events = tmp_path / "events"
    server = start_http_server("--events-dir", str(events))

    with anyio.fail_after(WAIT_S):
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5.0) as http:
            before = (await http.get("/control/faults")).json()
            bad = await http.put("/control/faults", json={"faults": [{"kind": "error", "probability": 2}]})
            typo = await http.put(
                "/control/faults", json={"faults": [{"kind": "hang", "tools": ["get_wether"]}]}
            )
            offset_s = before["now"] - before["run_start"]
            live = {
                "faults": [{"kind": "error", "message": "live", "tools": ["get_forecast"]}],
                "timeline": [
                    {
                        "at_s": offset_s + 1.0,
                        "for_s": 0.8,
                        "fault": {"kind": "jsonrpc_error", "code": -32042, "tools": ["get_current_weather"]},
                    }
                ],
            }
            replaced = await http.put("/control/faults", json=live)
            window_start = before["run_start"] + offset_s + 1.0
            async with http_session(server.mcp_url) as session:
                failed = await session.call_tool("get_forecast", CITY)
                before_window = await session.call_tool("get_current_weather", CITY)
                await anyio.sleep(max(0.0, window_start + 0.4 - time.time()))
                with pytest.raises(McpError) as caught:
                    await session.call_tool("get_current_weather", CITY)
                during = (await http.get("/control/faults")).json()
                await anyio.sleep(max(0.0, window_start + 1.0 - time.time()))
                after_window = await session.call_tool("get_current_weather", CITY)
    server.process.send_signal(signal.SIGTERM)
    assert await wait_for_exit(server.process) == 0

    assert (before["plan"], before["active"]) == ({"faults": []}, [])
    assert bad.status_code == 400
    assert bad.json()["error"].startswith(
        "PUT /control/faults: faults[0].probability: expected a number in [0, 1]"
    )
    assert typo.status_code == 400 and "faults[0].tools[0]: unknown tool 'get_wether'" in typo.json()["error"]
    assert replaced.status_code == 200
    assert [window["window"] for window in replaced.json()["active"]] == ["faults[0]"]
    assert failed.isError and isinstance(failed.content[0], TextContent) and failed.content[0].text == "live"
    assert not before_window.isError
    assert caught.value.error.code == -32042
    assert [window["window"] for window in during["active"]] == ["faults[0]", "timeline[0]"]
    assert not after_window.isError
    rows = read_rows(events)
    assert [(row["window"], row["kind"]) for row in rows] == [
        ("timeline[0]", "jsonrpc_error"),
        ("faults[0]", "error"),
    ]
    assert rows[0]["t_end"] - rows[0]["t_start"] == pytest.approx(0.8)

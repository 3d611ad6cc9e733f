"""Mode ``agent``: the LangChain agent over a real stdio weather server, through the manager and the gateway."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from starlette.testclient import TestClient

from harness.agent import ScriptedAgent
from harness.agents import build_langchain_agent
from harness.connection import StdioTarget
from harness.events import EventSink
from harness.gateway import GatewayConfig, GatewayServer, build_app
from harness.manager import ResilientMCPManager, ServerSpec
from tests.integration.harness.conftest import stdio_command

pytestmark = pytest.mark.integration

SEED = 11


class Recorder(EventSink):
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, row: Any) -> None:
        self.rows.append(dict(row))

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def weather_manager(
    tmp_path: Path, faults: list[dict[str, Any]] | None = None
) -> tuple[ResilientMCPManager, Recorder]:
    argv = stdio_command(tmp_path, faults)
    calls = Recorder()
    manager = ResilientMCPManager(
        [ServerSpec("weather", StdioTarget(argv[0], tuple(argv[1:])))], calls_sink=calls
    )
    return manager, calls


async def test_one_turn_makes_exactly_the_planned_tool_calls_and_the_manager_records_them(
    tmp_path: Path,
) -> None:
    manager, calls = weather_manager(tmp_path)
    with anyio.fail_after(60):
        assert await manager.start() == {}
        try:
            agent = await build_langchain_agent(
                manager, {"weather": "weather"}, seed=SEED, tool_calls_per_turn=3
            )
            result = await agent.run_turn("s1", 5, "req-agent-1")
        finally:
            await manager.aclose()
    planned = ScriptedAgent(manager, {"weather": "weather"}, seed=SEED, tool_calls_per_turn=3).plan("s1", 5)
    assert result.outcome == "ok", result
    assert result.reply == "Done: 3 tool call(s) answered."
    assert [(r.server, r.tool, r.outcome) for r in result.tool_calls] == [(s, t, "ok") for s, t, _ in planned]
    assert [(r["server"], r["tool"], r["outcome"], r["request_id"], r["session_id"]) for r in calls.rows] == [
        (s, t, "ok", "req-agent-1", "s1") for s, t, _ in planned
    ]


async def test_an_error_fault_surfaces_as_a_failed_turn_with_outcome_tool_error(tmp_path: Path) -> None:
    manager, calls = weather_manager(tmp_path, [{"kind": "error", "probability": 1.0}])
    with anyio.fail_after(60):
        assert await manager.start() == {}
        try:
            agent = await build_langchain_agent(manager, {"weather": "weather"}, seed=SEED)
            result = await agent.run_turn("s1", 0, "req-agent-2")
        finally:
            await manager.aclose()
    assert result.outcome == "tool_error"
    assert [r.outcome for r in result.tool_calls] == ["tool_error"]
    assert "injected" in result.reply
    assert [(r["outcome"], r["request_id"]) for r in calls.rows] == [("tool_error", "req-agent-2")]


def agent_gateway(tmp_path: Path, faults: list[dict[str, Any]] | None = None, **agent: Any) -> TestClient:
    config = GatewayConfig(
        seed=SEED,
        mode="agent",
        servers={
            "weather": GatewayServer(
                kind="weather", transport="stdio", command=stdio_command(tmp_path, faults)
            )
        },
        agent=agent,  # type: ignore[arg-type]
        events_dir=tmp_path / "events",
    )
    return TestClient(build_app(config))


@pytest.mark.timeout(60)  # TestClient runs its own loop, so anyio.fail_after cannot bound it
def test_the_gateway_in_agent_mode_serves_a_turn(tmp_path: Path) -> None:
    with agent_gateway(tmp_path, tool_calls_per_turn=2) as client:
        assert client.get("/ready").json() == {"ready": True}
        response = client.post("/v1/sessions/s1/messages", json={"turn": 3}, headers={"X-Request-ID": "abc"})
        failing = client.post("/v1/sessions/s2/messages", json={"turn": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == "abc" and body["outcome"] == "ok"
    assert body["reply"] == "Done: 2 tool call(s) answered."
    planned = ScriptedAgent(None, {"weather": "weather"}, seed=SEED).plan("s1", 3)  # type: ignore[arg-type]
    assert [c["tool"] for c in body["tool_calls"]] == [t for _, t, _ in planned]
    assert failing.status_code == 200


@pytest.mark.timeout(60)  # TestClient runs its own loop, so anyio.fail_after cannot bound it
def test_the_gateway_in_agent_mode_maps_a_tool_error_to_502(tmp_path: Path) -> None:
    with agent_gateway(tmp_path, [{"kind": "error", "probability": 1.0}]) as client:
        response = client.post("/v1/sessions/s1/messages", json={"turn": 0})
    assert response.status_code == 502
    assert response.json()["outcome"] == "tool_error"


@pytest.mark.timeout(60)  # TestClient runs its own loop, so anyio.fail_after cannot bound it
def test_ready_says_so_when_the_agents_tools_cannot_be_listed(tmp_path: Path) -> None:
    config = GatewayConfig(
        mode="agent",
        servers={
            "weather": GatewayServer(
                kind="weather", transport="stdio", command=[str(tmp_path / "no-such-server")]
            )
        },
        manager={"connect_timeout_s": 5.0},  # type: ignore[arg-type]
    )
    with TestClient(build_app(config)) as client:
        ready = client.get("/ready")
        turn = client.post("/v1/sessions/s1/messages", json={"turn": 0})
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert turn.status_code == 503 and turn.json()["error"] == "agent not ready"
    assert "transport_error" in turn.json()["detail"]


ECHO_SERVER = """
from mcp.server.fastmcp import FastMCP

mcp = FastMCP("echo")


@mcp.tool()
def echo(text: str) -> str:
    return text


mcp.run("stdio")
"""


@pytest.mark.timeout(60)
def test_ready_says_so_when_a_server_lacks_the_tools_the_agent_calls(tmp_path: Path) -> None:
    script = tmp_path / "echo_server.py"
    script.write_text(ECHO_SERVER, encoding="utf-8")
    config = GatewayConfig(
        mode="agent",
        servers={
            "weather": GatewayServer(kind="weather", transport="stdio", command=[sys.executable, str(script)])
        },
    )
    with TestClient(build_app(config)) as client:
        ready = client.get("/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert body["reason"] == "mode agent: agent not built"
    assert "does not offer ['get_current_weather', 'get_forecast']" in body["detail"]

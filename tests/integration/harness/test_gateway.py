"""The gateway app with its lifespan, over a real stdio weather server."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from harness.gateway import GatewayConfig, GatewayServer, build_app
from tests.integration.harness.conftest import HttpServer, stdio_command

pytestmark = pytest.mark.integration


def make_client(
    tmp_path: Path, faults: list[dict[str, object]] | None = None, **manager: object
) -> TestClient:
    config = GatewayConfig(
        seed=3,
        servers={
            "weather": GatewayServer(
                kind="weather", transport="stdio", command=stdio_command(tmp_path, faults)
            )
        },
        manager=manager,  # type: ignore[arg-type]
        events_dir=tmp_path / "events",
    )
    return TestClient(build_app(config))


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


def read_rows(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_ready_and_health_report_the_connected_server(client: TestClient) -> None:
    assert client.get("/ready").json() == {"ready": True}
    health = client.get("/health").json()
    assert health["status"] == "healthy"
    assert health["servers"]["weather"]["breaker_state"] == "closed"


def test_a_turn_runs_its_scripted_tool_calls_and_echoes_the_request_id(client: TestClient) -> None:
    response = client.post("/v1/sessions/s1/messages", json={"turn": 0}, headers={"X-Request-ID": "abc"})
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "abc" and response.headers["x-request-id"] == "abc"
    assert len(body["tool_calls"]) == 2
    assert all(c["outcome"] == "ok" for c in body["tool_calls"])


def test_the_same_session_and_turn_replays_the_same_tool_calls(client: TestClient) -> None:
    first = client.post("/v1/sessions/s9/messages", json={"turn": 4}).json()["tool_calls"]
    again = client.post("/v1/sessions/s9/messages", json={"turn": 4}).json()["tool_calls"]
    assert [c["tool"] for c in first] == [c["tool"] for c in again]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "body is not JSON"),
        (b"[1, 2]", 400, "body must be a JSON object"),
        (b'{"turn": -1}', 400, "turn must be a non-negative integer"),
        (b'{"turn": "x"}', 400, "turn must be a non-negative integer"),
        (b"x" * 70_000, 413, "body too large"),
    ],
)
def test_bad_bodies_get_a_clear_4xx(client: TestClient, body: bytes, status: int, error: str) -> None:
    response = client.post("/v1/sessions/s1/messages", content=body)
    assert response.status_code == status
    assert response.json()["error"] == error


def test_tool_errors_become_502_and_an_open_breaker_503(tmp_path: Path) -> None:
    faults = [{"kind": "error", "probability": 1.0}]
    with make_client(tmp_path, faults, breaker={"failure_threshold": 2, "recovery_timeout_s": 60}) as c:
        statuses = [c.post(f"/v1/sessions/s{i}/messages", json={"turn": 0}).status_code for i in range(4)]
        health = c.get("/health")
    assert statuses == [502, 502, 503, 503]
    assert health.status_code == 503 and health.json()["status"] == "unhealthy"


def test_metrics_parse_and_tool_call_counters_agree_with_the_calls_table(tmp_path: Path) -> None:
    with make_client(
        tmp_path, [{"kind": "error", "probability": 0.3}], breaker={"failure_threshold": 100}
    ) as c:
        for i in range(20):
            c.post(f"/v1/sessions/s{i}/messages", json={"turn": i})
        exposition = c.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    counted = Counter(
        {
            (s.labels["server"], s.labels["tool"], s.labels["outcome"]): int(s.value)
            for s in families["mcp_tool_calls"].samples
            if s.name == "mcp_tool_calls_total"
        }
    )
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    assert counted == Counter((r["server"], r["tool"], r["outcome"]) for r in rows)
    assert {"ok", "tool_error"} <= {outcome for _, _, outcome in counted}
    requests = sum(s.value for s in families["agent_requests"].samples if s.name == "agent_requests_total")
    assert requests == 20
    assert {
        "agent_request_duration_seconds",
        "active_agents_current",
        "circuit_breaker_state",
        "mcp_server_health",
    } <= families.keys()


def two_server_client(tmp_path: Path, mode: Literal["tools", "agent"] = "tools") -> TestClient:
    servers = {
        name: GatewayServer(kind="weather", transport="stdio", command=stdio_command(tmp_path))
        for name in ("north", "south")
    }
    config = GatewayConfig(seed=3, mode=mode, servers=servers, events_dir=tmp_path / "events")
    return TestClient(build_app(config))


@pytest.mark.parametrize("mode", ["tools", "agent"])
def test_a_turn_restricted_by_servers_calls_only_those_servers(
    tmp_path: Path, mode: Literal["tools", "agent"]
) -> None:
    with two_server_client(tmp_path, mode) as c:
        for turn in range(8):
            response = c.post(
                "/v1/sessions/s1/messages",
                json={"turn": turn, "servers": ["south"]},
                headers={"X-Request-ID": f"restricted-{turn}"},
            )
            assert response.status_code == 200
            assert {call["server"] for call in response.json()["tool_calls"]} == {"south"}
        for turn in range(8):
            c.post("/v1/sessions/s1/messages", json={"turn": turn}, headers={"X-Request-ID": f"free-{turn}"})
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    restricted = [r for r in rows if str(r["request_id"]).startswith("restricted-")]
    free = [r for r in rows if str(r["request_id"]).startswith("free-")]
    assert len(restricted) == 16 and {r["server"] for r in restricted} == {"south"}
    assert {r["server"] for r in free} == {"north", "south"}  # without servers, both are used


@pytest.mark.parametrize(
    ("servers", "error", "detail"),
    [
        (["nowhere"], "unknown server(s) nowhere", "this gateway has: north, south"),
        (["south", "east", "west"], "unknown server(s) east, west", "this gateway has: north, south"),
        ([], "servers must be a non-empty list of server names", "[]"),
        ("south", "servers must be a non-empty list of server names", "'south'"),
        ([1], "servers must be a non-empty list of server names", "[1]"),
    ],
)
def test_servers_naming_an_unknown_server_or_not_a_list_is_a_400(
    tmp_path: Path, servers: object, error: str, detail: str
) -> None:
    with two_server_client(tmp_path) as c:
        response = c.post("/v1/sessions/s1/messages", json={"turn": 0, "servers": servers})
    assert response.status_code == 400
    assert response.json()["error"] == error and response.json()["detail"] == detail
    assert not (tmp_path / "events" / "calls.gateway.jsonl").exists() or not read_rows(
        tmp_path / "events" / "calls.gateway.jsonl"
    )


def test_metrics_expose_pool_gauges_and_a_retries_counter_that_agrees_with_the_calls_table(
    tmp_path: Path, http_server: Callable[..., HttpServer]
) -> None:
    # Over HTTP (the server is up before the gateway opens its session), so that a slow machine
    # cannot make the session's own opening time out, which the short call timeout would.
    server = http_server([{"kind": "hang", "probability": 0.4}])
    config = GatewayConfig(
        seed=3,
        servers={"weather": GatewayServer(kind="weather", transport="http", url=server.url)},
        manager={  # type: ignore[arg-type]
            "call_timeout_s": 0.5,
            "retry": {"max_attempts": 2, "base_delay_s": 0.0, "budget_ratio": 10.0},
            "breaker": {"failure_threshold": 100},
            "pool": {"failures_before_evict": 100},
        },
        events_dir=tmp_path / "events",
    )
    with TestClient(build_app(config)) as c:
        for i in range(6):
            c.post(f"/v1/sessions/s{i}/messages", json={"turn": i})
        exposition = c.get("/metrics").text
    values = {
        s.name: s.value
        for f in text_string_to_metric_families(exposition)
        for s in f.samples
        if s.labels.get("server") == "weather" and "tool" not in s.labels
    }
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    retried = sum(1 for r in rows if int(r["attempt"]) > 1)  # type: ignore[call-overload]
    assert retried > 0
    assert values["mcp_tool_retries_total"] == retried
    assert values["mcp_pool_sessions"] == 1  # pool size 1; timeouts never evict it here
    assert values["mcp_pool_waiters"] == 0
    assert values["circuit_breaker_state"] == 0

"""The HTTP proxy in-process: the app over an ASGI transport, the upstream an httpx mock (no sockets)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import yaml

from fault_servers import parse_faults
from fault_servers.call_layer import padding
from fault_servers.proxy import build_proxy_runtime
from fault_servers.proxy_http import build_app, pad_body

UPSTREAM = "http://upstream.test/mcp"
WAIT_S = 10.0


def tools_call(request_id: int, tool: str = "echo") -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {}},
    }


def tool_result(request_id: int, text: str = "hi") -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": {"content": [{"type": "text", "text": text}]}}


class Streamed(httpx.AsyncByteStream):
    """A body the mock upstream streams, as a real connection does (httpx reads plain content at once)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


def answer(
    status: int, message: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = json.dumps(message).encode() if message is not None else b""
    all_headers = {"content-type": "application/json", **(headers or {})}
    return httpx.Response(status, headers=all_headers, stream=Streamed(body[:5], body[5:]))


class Upstream:
    """A recording mock upstream that answers every request with `respond`."""

    def __init__(self, respond: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self._respond = respond or (lambda request: answer(200, tool_result(1)))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._respond(request)


@asynccontextmanager
async def proxy(upstream: Upstream, faults: str = "faults: []") -> AsyncIterator[httpx.AsyncClient]:
    runtime = build_proxy_runtime(
        parse_faults(yaml.safe_load(faults), "test"),
        seed=0,
        transport="http",
        target="proxy",
        run_start_s=None,
        events_dir=None,
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(upstream)) as upstream_client:
        app = build_app(UPSTREAM, runtime, upstream_client)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://proxy.test") as client:
            with anyio.fail_after(WAIT_S):
                yield client
    runtime.stop()


async def test_a_request_is_forwarded_with_its_body_query_and_end_to_end_headers() -> None:
    upstream = Upstream(
        lambda request: answer(200, tool_result(1), {"mcp-session-id": "s1", "connection": "close"})
    )

    async with proxy(upstream) as client:
        response = await client.post(
            "/mcp?x=1",
            json=tools_call(1),
            headers={
                "mcp-session-id": "s1",
                "accept": "application/json, text/event-stream",
                "te": "trailers",
            },
        )

    sent = upstream.requests[0]
    assert str(sent.url) == f"{UPSTREAM}?x=1"
    assert json.loads(sent.content) == tools_call(1)
    assert sent.headers["mcp-session-id"] == "s1"
    assert sent.headers["accept"] == "application/json, text/event-stream"
    assert "te" not in sent.headers
    assert sent.headers["host"] == "upstream.test"
    assert response.status_code == 200
    assert response.json() == tool_result(1)
    assert response.headers["mcp-session-id"] == "s1"
    assert "connection" not in response.headers


async def test_get_and_delete_are_forwarded_too() -> None:
    upstream = Upstream(lambda request: answer(202 if request.method == "DELETE" else 405))

    async with proxy(upstream) as client:
        got = await client.get("/mcp")
        deleted = await client.delete("/mcp")

    assert [request.method for request in upstream.requests] == ["GET", "DELETE"]
    assert (got.status_code, deleted.status_code) == (405, 202)


async def test_an_error_fault_is_answered_by_the_proxy_without_asking_the_upstream() -> None:
    upstream = Upstream()

    async with proxy(upstream, "faults: [{kind: error, message: boom}]") as client:
        response = await client.post("/mcp", json=tools_call(4))

    assert upstream.requests == []
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": 4,
        "result": {"content": [{"type": "text", "text": "boom"}], "isError": True},
    }


async def test_a_jsonrpc_error_fault_is_answered_with_its_code() -> None:
    async with proxy(Upstream(), "faults: [{kind: jsonrpc_error, code: -32050, message: refused}]") as client:
        response = await client.post("/mcp", json=tools_call(2))

    assert response.json()["error"] == {"code": -32050, "message": "refused"}


async def test_call_faults_leave_requests_that_are_not_tool_calls_alone() -> None:
    upstream = Upstream()

    async with proxy(upstream, "faults: [{kind: error}]") as client:
        await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        await client.post("/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"})

    assert len(upstream.requests) == 2


async def test_an_oversized_fault_pads_the_upstreams_json_answer() -> None:
    async with proxy(Upstream(), "faults: [{kind: oversized, size_bytes: 30}]") as client:
        response = await client.post("/mcp", json=tools_call(1))

    assert response.json()["result"]["content"][-1] == {"type": "text", "text": padding(30)}
    assert int(response.headers["content-length"]) == len(response.content)


async def test_an_http_status_fault_refuses_before_the_upstream_sees_the_request() -> None:
    upstream = Upstream()

    async with proxy(upstream, "faults: [{kind: http_status, status: 429, retry_after_s: 3}]") as client:
        response = await client.post("/mcp", json=tools_call(1))

    assert upstream.requests == []
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"


async def test_an_unreachable_upstream_gives_502() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with proxy(Upstream(refuse)) as client:
        response = await client.post("/mcp", json=tools_call(1))

    assert response.status_code == 502
    assert "ConnectError" in response.json()["error"]


async def test_the_proxy_answers_healthz_itself_and_404_elsewhere() -> None:
    upstream = Upstream()

    async with proxy(upstream) as client:
        health = await client.get("/healthz")
        other = await client.get("/elsewhere")

    assert health.status_code == 200
    assert other.status_code == 404
    assert upstream.requests == []


async def test_the_control_endpoint_shows_the_proxys_own_plan() -> None:
    async with proxy(Upstream(), "faults: [{kind: error, tools: [echo]}]") as client:
        state = (await client.get("/control/faults")).json()

    assert state["transport"] == "http"
    assert state["plan"]["faults"][0]["tools"] == ["echo"]


def test_pad_body_pads_only_the_matching_event_of_an_sse_answer() -> None:
    other = json.dumps(tool_result(8)).encode()
    mine = json.dumps(tool_result(7)).encode()
    body = b"event: message\r\ndata: " + other + b"\r\n\r\nevent: message\r\ndata: " + mine + b"\r\n\r\n"

    padded = pad_body(body, "text/event-stream", 7, 12)

    events = [line for line in padded.split(b"\r\n") if line.startswith(b"data: ")]
    assert json.loads(events[0][6:]) == tool_result(8)
    assert json.loads(events[1][6:])["result"]["content"][-1] == {"type": "text", "text": padding(12)}
    assert padded.endswith(b"\r\n\r\n")

"""The HTTP transport layer: an ASGI middleware around FastMCP's streamable-HTTP app.

It carries out what FastMCP cannot express, for JSON-RPC *requests* POSTed
to the MCP endpoint (notifications, responses, GET and DELETE pass through):

- refusals (``http_status``, ``flapping`` down phases): the status (429 or
  503) with ``Retry-After``; the request never reaches the server;
- ``malformed`` with ``mode: not_json``: the response body is replaced by
  bytes that are not JSON (status 200, ``application/json``);
- ``drop_mid_response``: the status, headers (with the full
  ``Content-Length``) and half the body are sent, then the connection closes;
- a call the call layer hangs: nothing is ever sent for its request.

It also routes ``/control/...`` to the control endpoint (never faulted) and,
during a slow start, holds MCP requests until the server is ready while
``GET /healthz`` answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Final

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fault_servers.call_layer import CALL_MARKS_KEY, CallMarks
from fault_servers.model import Refusal
from fault_servers.runtime import FaultRuntime

NOT_JSON_BODY: Final = b"<html>injected fault: malformed (not_json)</html>\n"


class DroppedResponse(Exception):
    """Raised after half a response body went out, so the server closes the connection mid-body."""


class DroppedResponseNoise(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" traceback for a deliberate `DroppedResponse`."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedResponse)


class FaultMiddleware:
    """Wraps `app` (FastMCP's streamable-HTTP app) with the runtime's transport-layer faults."""

    def __init__(
        self,
        app: ASGIApp,
        runtime: FaultRuntime,
        *,
        control: ASGIApp,
        mcp_path: str = "/mcp",
        health_path: str = "/healthz",
    ) -> None:
        self.app = app
        self.runtime = runtime
        self.control = control
        self.mcp_path = mcp_path.rstrip("/")
        self.health_path = health_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith("/control/"):
            await self.control(scope, receive, send)
            return
        is_mcp = path.rstrip("/") == self.mcp_path
        starting_s = self.runtime.remaining_start_s()
        if starting_s > 0 and path == self.health_path:
            await _respond(send, 503, {"status": "starting"}, retry_after_s=math.ceil(starting_s))
            return
        if is_mcp:
            await self.runtime.wait_ready()
        if not is_mcp or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        is_request, tool = inspect_message(body)
        replay = _replaying(body, receive)
        if not is_request:
            await self.app(scope, replay, send)
            return
        decision = self.runtime.injector.decide_request(tool)
        if decision.refusal is not None:
            await _refuse(send, decision.refusal)
        elif decision.drop:
            start, content = await _capture(self.app, scope, replay)
            await send(start)
            await send(
                {"type": "http.response.body", "body": content[: len(content) // 2], "more_body": True}
            )
            raise DroppedResponse("injected fault: drop_mid_response")
        elif decision.not_json:
            start, _ = await _capture(self.app, scope, replay)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(NOT_JSON_BODY)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": NOT_JSON_BODY})
        else:
            marks = CallMarks()
            await self.app({**scope, CALL_MARKS_KEY: marks}, replay, _unless_hung(send, marks))


def inspect_message(body: bytes) -> tuple[bool, str | None]:
    """Whether `body` is one JSON-RPC request, and the tool it calls (None unless ``tools/call``)."""
    try:
        message = json.loads(body)
    except ValueError:
        return False, None
    if not isinstance(message, dict) or not isinstance(message.get("method"), str) or "id" not in message:
        return False, None
    params = message.get("params")
    if message["method"] == "tools/call" and isinstance(params, dict) and isinstance(params.get("name"), str):
        return True, params["name"]
    return True, None


async def read_body(receive: Receive) -> bytes:
    """The whole body of an ASGI HTTP request (its ``http.request`` messages joined)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _unless_hung(send: Send, marks: CallMarks) -> Send:
    """A send that blocks forever, sending nothing, once the call layer has hung the call."""

    async def send_unless_hung(message: Message) -> None:
        if marks.hang:
            await anyio.sleep_forever()
        await send(message)

    return send_unless_hung


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A receive that gives `body` once, then defers to the real one (for ``http.disconnect``)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _capture(app: ASGIApp, scope: Scope, receive: Receive) -> tuple[Message, bytes]:
    """Run `app` to completion, keeping its response instead of sending it."""
    start: Message = {"type": "http.response.start", "status": 500, "headers": []}
    chunks: list[bytes] = []

    async def keep(message: Message) -> None:
        nonlocal start
        if message["type"] == "http.response.start":
            start = message
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return start, b"".join(chunks)


async def _refuse(send: Send, refusal: Refusal) -> None:
    message = f"injected fault: {refusal.reason} (HTTP {refusal.status})"
    await _respond(send, refusal.status, {"error": message}, retry_after_s=refusal.retry_after_s)


async def _respond(send: Send, status: int, payload: object, *, retry_after_s: int) -> None:
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", str(retry_after_s).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

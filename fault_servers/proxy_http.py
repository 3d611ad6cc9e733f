"""The fault proxy's HTTP mode: a reverse proxy with faults in front of a streamable-HTTP MCP server.

``python -m fault_servers proxy --http-upstream URL --port N [--host H] [--faults FILE] ...``
serves MCP at ``/mcp`` and forwards every request there (POST, GET, DELETE: body,
query and headers, minus hop-by-hop ones) to URL with httpx, streaming the
upstream's answer back as it arrives (SSE included). The fault servers' own
`FaultMiddleware` wraps the forwarding app, so the transport faults
(``http_status``, ``flapping``, ``malformed: not_json``, ``drop_mid_response``),
``slow_start`` (``GET /healthz`` answers 503 meanwhile) and the live
``/control/faults`` endpoint behave exactly as on a fault server. The
forwarding app carries out the call-layer faults of POSTed ``tools/call``
requests, like the stdio proxy: the delay before forwarding; a crash (the proxy
exits with the code); a hang (nothing is ever answered); a JSON-RPC error, an
``isError`` result or a wrong-shape result, answered by the proxy as JSON; an
oversized result (the upstream's JSON or SSE answer, padded).

``GET /healthz`` answers 200 from the proxy itself once it is ready; an
upstream that cannot be reached gives 502. Both the bind address and the
upstream must be loopback unless ``--allow-remote``. SIGTERM and SIGINT end
the proxy with code 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from types import FrameType
from typing import Final

import anyio
import httpx
import uvicorn
from starlette.types import Message, Receive, Scope, Send

from fault_servers.call_layer import CALL_MARKS_KEY, CallMarks
from fault_servers.control import ControlApp
from fault_servers.http_layer import DroppedResponseNoise, FaultMiddleware, read_body
from fault_servers.model import FaultPlan
from fault_servers.proxy import build_proxy_runtime
from fault_servers.proxy_messages import RequestId, call_answer, classify, pad_response, response_id
from fault_servers.runtime import FaultRuntime

MCP_PATH: Final = "/mcp"
HEALTH_PATH: Final = "/healthz"
GRACEFUL_SHUTDOWN_S: Final = 1
HOP_BY_HOP: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
NOT_FORWARDED: Final = HOP_BY_HOP | {b"host", b"content-length"}
"""Request headers the proxy leaves out (httpx sets ``Host`` and ``Content-Length`` for the upstream)."""
UPSTREAM_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=None, write=30.0, pool=None)
"""No read timeout: event streams stay open and injected latency is the point; clients time out."""


def pad_body(body: bytes, content_type: str, request_id: RequestId, size_bytes: int) -> bytes:
    """An upstream answer (JSON, or an SSE stream) with the result for `request_id` padded by `size_bytes`."""
    if "text/event-stream" not in content_type:
        return pad_response(body.strip(), size_bytes)
    lines = body.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if response_id(payload) == request_id:
            lines[i] = b"data: " + pad_response(payload, size_bytes) + line[len(line.rstrip(b"\r\n")) :]
    return b"".join(lines)


class ForwardingApp:
    """ASGI app that forwards ``MCP_PATH`` to `upstream_url` through `client`, with the call-layer faults."""

    def __init__(self, upstream_url: str, runtime: FaultRuntime, client: httpx.AsyncClient) -> None:
        self.upstream_url = upstream_url
        self.runtime = runtime
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == HEALTH_PATH:
            await _respond(send, 200, b'{"status": "ok"}')
            return
        if path.rstrip("/") != MCP_PATH:
            await _respond(send, 404, json.dumps({"error": f"not found; MCP is at {MCP_PATH}"}).encode())
            return
        body = await read_body(receive)
        inbound = classify(body) if scope["method"] == "POST" else None
        if inbound is None or inbound.tool is None or inbound.request_id is None:
            await self._forward(scope, body, receive, send)
            return
        call = self.runtime.injector.decide(inbound.tool)
        if call.delay_s > 0:
            await self.runtime.sleep(call.delay_s)
        if call.crash_exit_code is not None:
            self.runtime.crash(call.crash_exit_code)
        if call.hang:
            marks = scope.get(CALL_MARKS_KEY)
            if isinstance(marks, CallMarks):
                marks.hang = True
            await _until_disconnect(receive)
            return
        answer = call_answer(inbound.request_id, call)
        if answer is not None:
            await _respond(send, 200, answer)
            return
        await self._forward(scope, body, receive, send, (inbound.request_id, call.oversized_bytes))

    async def _forward(
        self,
        scope: Scope,
        body: bytes,
        receive: Receive,
        send: Send,
        padding: tuple[RequestId, int] | None = None,
    ) -> None:
        query = scope.get("query_string", b"").decode("latin-1")
        url = f"{self.upstream_url}?{query}" if query else self.upstream_url
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in NOT_FORWARDED]
        request = self.client.build_request(scope["method"], url, headers=headers, content=body)
        try:
            response = await self.client.send(request, stream=True)
        except httpx.HTTPError as exc:
            message = f"upstream {self.upstream_url} failed: {type(exc).__name__}: {exc}"
            await _respond(send, 502, json.dumps({"error": message}).encode())
            return
        try:
            if padding is not None and padding[1] > 0:
                await self._send_padded(response, send, *padding)
            else:
                await self._stream(response, receive, send)
        finally:
            await response.aclose()

    async def _send_padded(
        self, response: httpx.Response, send: Send, request_id: RequestId, size_bytes: int
    ) -> None:
        content = await response.aread()
        padded = pad_body(content, response.headers.get("content-type", ""), request_id, size_bytes)
        skip = HOP_BY_HOP | {b"content-length", b"content-encoding"}
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in skip]
        headers.append((b"content-length", str(len(padded)).encode()))
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": padded})

    async def _stream(self, response: httpx.Response, receive: Receive, send: Send) -> None:
        headers = [(k, v) for k, v in response.headers.raw if k.lower() not in HOP_BY_HOP]
        await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
        async with anyio.create_task_group() as tg:

            async def stop_on_disconnect() -> None:
                await _until_disconnect(receive)
                tg.cancel_scope.cancel()

            tg.start_soon(stop_on_disconnect)
            async for chunk in response.aiter_raw():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            tg.cancel_scope.cancel()


async def _until_disconnect(receive: Receive) -> None:
    message: Message = {"type": ""}
    while message["type"] != "http.disconnect":
        message = await receive()


async def _respond(send: Send, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def build_app(upstream_url: str, runtime: FaultRuntime, client: httpx.AsyncClient) -> FaultMiddleware:
    """The whole proxy app: the fault middleware (and control endpoint) around the forwarding app."""
    return FaultMiddleware(
        ForwardingApp(upstream_url, runtime, client),
        runtime,
        control=ControlApp(runtime),
        mcp_path=MCP_PATH,
        health_path=HEALTH_PATH,
    )


def upstream_client() -> httpx.AsyncClient:
    """The httpx client the proxy forwards with (no read timeout, no cap on connections)."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
    return httpx.AsyncClient(timeout=UPSTREAM_TIMEOUT, limits=limits, follow_redirects=False)


class _StopRequested(BaseException):
    """Raised by the SIGTERM/SIGINT handler outside uvicorn's own signal window."""


def run_http_proxy(args: argparse.Namespace, plan: FaultPlan) -> int:
    """Serve the HTTP proxy for the parsed ``proxy`` command `args` until stopped; returns the exit code.

    Raises FaultConfigError or FaultServerError (see `build_proxy_runtime`).
    """
    from fault_servers.cli import is_loopback_host  # here, not at the top: cli imports the proxy

    upstream = httpx.URL(args.http_upstream)
    if upstream.scheme not in ("http", "https") or not upstream.host:
        return _complain(f"expected --http-upstream http://HOST:PORT/PATH, got {args.http_upstream!r}")
    if args.port is None:
        return _complain("the HTTP mode needs --port")
    for what, host in (("bind to", args.host), ("forward to", upstream.host)):
        if not args.allow_remote and not is_loopback_host(host):
            return _complain(
                f"refusing to {what} non-loopback host {host!r}; use 127.0.0.1, localhost or ::1, "
                "or pass --allow-remote"
            )
    runtime = build_proxy_runtime(
        plan,
        seed=args.seed,
        transport="http",
        target=args.name,
        run_start_s=args.run_start,
        events_dir=args.events_dir,
    )
    _raise_on_stop_signals()
    try:
        anyio.run(_serve, str(upstream), runtime, args.host, args.port)
    except* _StopRequested:
        pass
    finally:
        runtime.stop()
    return 0


async def _serve(upstream_url: str, runtime: FaultRuntime, host: str, port: int) -> None:
    runtime.start()
    logging.getLogger("uvicorn.error").addFilter(DroppedResponseNoise())
    async with upstream_client() as client:
        config = uvicorn.Config(
            build_app(upstream_url, runtime, client),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        async with anyio.create_task_group() as tg:
            tg.start_soon(runtime.run_ticker)
            await uvicorn.Server(config).serve()
            tg.cancel_scope.cancel()


def _raise_on_stop_signals() -> None:
    # uvicorn handles SIGTERM itself while serving and re-raises it afterwards against the
    # handler it found; with this one, that (or a signal before or after serving) ends with 0.
    def stop(signum: int, frame: FrameType | None) -> None:
        raise _StopRequested(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def _complain(message: str) -> int:
    print(f"python -m fault_servers proxy: error: {message}", file=sys.stderr)
    return 2

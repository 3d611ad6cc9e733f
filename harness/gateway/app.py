"""The agent gateway (system under test) as an ASGI app.

Endpoints:

- ``POST /v1/sessions/{session_id}/messages`` with ``{"message": str, "turn": int,
  "servers": [str, ...]}`` (``servers`` optional: the turn's tool calls use only those
  servers; ``400`` naming any server the gateway does not have): plays one agent turn (mode
  ``tools``: the scripted calls; ``agent``: the LangChain agent loop), through a ResilientAgent. ``200`` when every tool call answered; ``502`` when a tool
  or transport failed, ``503`` when a breaker refused, ``504`` on a timeout, each with
  the failing call in the body. ``X-Request-ID`` is honoured (else one is made) and
  tags the turn's rows in the ``calls`` table.
- ``GET /health``: per-server status, ``healthy``/``degraded``/``unhealthy`` (503 when unhealthy).
- ``GET /ready``: 200 once every server's session is open and the agent is built (mode ``agent``
  lists the tools through the manager), else 503 with the reasons.
- ``GET /metrics``: Prometheus text exposition.
- ``GET /v1/audit?user=U``: a user's audit events, for callers holding ``admin:*``.

Authentication (401), the session check (403), rate limiting (429), tool-call
authorization (a ``denied`` call makes the turn 403) and the response cache are
:mod:`harness.gateway.security`'s, each on only when configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, TextIO

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.agents import ResilientAgent, build_agent
from harness.auth import current_principal
from harness.envconfig import gateway_environment
from harness.errors import ChaosbenchError
from harness.events import EventSink, EventWriter, NullEventWriter
from harness.gateway.config import GatewayConfig
from harness.gateway.health import evaluate, system_resources
from harness.gateway.metrics import GatewayMetrics
from harness.gateway.security import Admitted, GatewaySecurity
from harness.gateway.security_metrics import SecurityCollector
from harness.logs import request_id_var
from harness.manager import ResilientMCPManager, ServerSpec

__all__ = ["build_app"]

STATUS_BY_OUTCOME = {"rejected_open": 503, "timeout": 504, "denied": 403}
MAX_BODY_BYTES = 64 * 1024


class _Gateway:
    def __init__(self, config: GatewayConfig, errlog: TextIO | None, environ: Mapping[str, str]) -> None:
        self.config = config
        self.security = GatewaySecurity(config, gateway_environment(environ), errlog=errlog)
        if config.events_dir is not None:
            self.calls_sink: EventSink = EventWriter(config.events_dir, "calls", config.source)
            self.breaker_sink: EventSink = EventWriter(
                config.events_dir, "breaker", config.source, flush_rows=1
            )
        else:
            self.calls_sink = self.breaker_sink = NullEventWriter()
        per_server = config.server_manager_configs()
        self.manager = ResilientMCPManager(
            [ServerSpec(name, s.target(), per_server[name]) for name, s in config.servers.items()],
            config.manager_config(),
            calls_sink=self.calls_sink,
            breaker_sink=self.breaker_sink,
            errlog=errlog,
            authorizer=self.security.authorizer,
            cache=self.security.cache,
        )
        # Built in start(): mode agent lists the servers' tools through the manager first.
        self.agent: ResilientAgent | None = None
        self.agent_error = ""
        self._agent_lock = asyncio.Lock()
        self.metrics = GatewayMetrics(self.manager)
        self.metrics.registry.register(SecurityCollector(self.security))
        self.started = False
        self.start_errors: dict[str, str] = {}

    async def start(self) -> None:
        self.start_errors = await self.manager.start()
        await self.ensure_agent()
        self.started = True

    async def ensure_agent(self) -> ResilientAgent | None:
        """The agent for the configured mode, built on first need; ``None`` (and ``agent_error``) if it cannot be."""
        if self.agent is not None:
            return self.agent
        async with self._agent_lock:
            if self.agent is None:
                kinds = {name: s.kind for name, s in self.config.servers.items()}
                try:
                    self.agent = await build_agent(
                        self.config.mode, self.manager, kinds, self.config.agent, seed=self.config.seed
                    )
                    self.agent_error = ""
                except ChaosbenchError as exc:
                    self.agent_error = str(exc)
        return self.agent

    async def stop(self) -> None:
        await self.manager.aclose()
        await self.security.aclose()
        self.calls_sink.close()
        self.breaker_sink.close()

    async def messages(self, request: Request) -> Response:
        session_id = request.path_params["session_id"]
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        request_id_var.set(request_id)
        admitted = self.security.admit(request, session_id, request_id)
        if not isinstance(admitted, Admitted):
            self.metrics.requests.labels(str(admitted.status_code)).inc()
            return admitted
        # The manager's authorizer reads the caller from here (asyncio copies it into the turn's tasks).
        token = current_principal.set(admitted.principal)
        try:
            return await self._play(request, session_id, request_id)
        finally:
            current_principal.reset(token)

    async def _play(self, request: Request, session_id: str, request_id: str) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, "body too large", f"at most {MAX_BODY_BYTES} bytes", request_id)
        try:
            payload: Any = json.loads(body or b"{}")
        except ValueError as exc:
            return _error(400, "body is not JSON", str(exc), request_id)
        if not isinstance(payload, dict):
            return _error(400, "body must be a JSON object", type(payload).__name__, request_id)
        turn = payload.get("turn", 0)
        if not isinstance(turn, int) or isinstance(turn, bool) or turn < 0:
            return _error(400, "turn must be a non-negative integer", repr(turn), request_id)
        servers = payload.get("servers")
        if servers is not None:
            if not isinstance(servers, list) or not servers or not all(isinstance(s, str) for s in servers):
                return _error(
                    400, "servers must be a non-empty list of server names", repr(servers), request_id
                )
            unknown = sorted(set(servers) - self.config.servers.keys())
            if unknown:
                return _error(
                    400,
                    f"unknown server(s) {', '.join(unknown)}",
                    f"this gateway has: {', '.join(sorted(self.config.servers))}",
                    request_id,
                )
        agent = await self.ensure_agent()
        if agent is None:
            return _error(503, "agent not ready", self.agent_error, request_id)

        started = time.monotonic()
        self.metrics.active.inc()
        try:
            # The ResilientAgent bounds the turn by turn_timeout_s (outcome timeout) and retries it.
            result = await agent.run_turn(session_id, turn, request_id, servers=servers)
            status = 200 if result.ok else STATUS_BY_OUTCOME.get(result.outcome, 502)
            content = {
                "request_id": request_id,
                "session_id": session_id,
                "outcome": result.outcome,
                "reply": result.reply,
                "tool_calls": [vars(c) for c in result.tool_calls],
            }
        finally:
            self.metrics.active.dec()
            self.metrics.duration.observe(time.monotonic() - started)
        self.metrics.requests.labels(str(status)).inc()
        headers = {"x-request-id": request_id}
        if status == 403:
            headers.update(self.security.forbidden_headers())
        return JSONResponse(content, status_code=status, headers=headers)

    async def health(self, request: Request) -> Response:
        servers = self.manager.get_metrics()
        resources = system_resources()
        checks = await self.security.checks()
        report = evaluate(servers, resources, checks)
        for name, status in report.servers.items():
            servers[name]["status"] = status
        body = {
            "status": report.status,
            "reasons": report.reasons,
            "servers": servers,
            "system": resources,
            "checks": checks,
            "protections": self.security.describe(),
        }
        return JSONResponse(body, status_code=report.http_status)

    async def ready(self, request: Request) -> Response:
        if not self.started:
            return JSONResponse({"ready": False, "reason": "starting"}, status_code=503)
        down = {name: m["last_error"] for name, m in self.manager.get_metrics().items() if not m["connected"]}
        if down:
            return JSONResponse(
                {"ready": False, "reason": "servers not connected", "servers": down}, status_code=503
            )
        if await self.ensure_agent() is None:
            return JSONResponse(
                {
                    "ready": False,
                    "reason": f"mode {self.config.mode}: agent not built",
                    "detail": self.agent_error,
                },
                status_code=503,
            )
        return JSONResponse({"ready": True})

    async def prometheus(self, request: Request) -> Response:
        return Response(generate_latest(self.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def _error(status: int, what: str, detail: str, request_id: str) -> JSONResponse:
    return JSONResponse({"error": what, "detail": detail, "request_id": request_id}, status_code=status)


def build_app(
    config: GatewayConfig, errlog: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> Starlette:
    """Build the gateway app; its sessions open in the lifespan and close on shutdown.

    ``environ`` (default ``os.environ``) gives the keys, ``REDIS_URL`` and log settings
    (``harness.envconfig.gateway_environment``). Raises :class:`~harness.errors.ConfigError`
    when auth is enabled without a usable key or audit path.
    """
    gateway = _Gateway(config, errlog, os.environ if environ is None else environ)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        try:
            yield
        finally:
            await gateway.stop()

    app = Starlette(
        routes=[
            Route("/v1/sessions/{session_id}/messages", gateway.messages, methods=["POST"]),
            Route("/health", gateway.health, methods=["GET"]),
            Route("/ready", gateway.ready, methods=["GET"]),
            Route("/metrics", gateway.prometheus, methods=["GET"]),
            Route("/v1/audit", gateway.security.audit_endpoint, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app

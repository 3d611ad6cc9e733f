"""ResilientMCPManager: every tool call of the system under test goes through here.

Per server it keeps one persistent MCP session (reopened lazily, with backoff,
when it dies or keeps failing), a circuit breaker and a per-call timeout, and
retries retryable outcomes. Every attempt is one row in the ``calls`` table and
every breaker transition one row in ``breaker``.

Outcomes: ``ok``, ``tool_error`` (the tool answered ``isError``),
``transport_error`` (no answer: connection refused, closed, protocol error),
``timeout`` (no answer within ``call_timeout_s``), ``rejected_open`` (the breaker
refused it), ``cancelled`` (the caller gave up; never counted against the server).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from mcp.types import CallToolResult, TextContent

from harness.connection import ConnectionFailedError, HttpTarget, McpConnection, StdioTarget, describe
from harness.errors import ToolCallError
from harness.events import EventSink, NullEventWriter
from harness.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker, Permit, Transition

__all__ = ["FAILURE_OUTCOMES", "ManagerConfig", "ResilientMCPManager", "ServerSpec"]

FAILURE_OUTCOMES = frozenset({"tool_error", "transport_error", "timeout"})
RETRYABLE_OUTCOMES = frozenset({"transport_error", "timeout"})
#: Consecutive transport errors or timeouts after which a session is presumed broken and reopened.
SESSION_FAILURES_BEFORE_REOPEN = 3


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server the manager talks to."""

    name: str
    target: HttpTarget | StdioTarget


@dataclass(frozen=True)
class ManagerConfig:
    call_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    max_attempts: int = 1
    retry_backoff_s: float = 0.05
    max_in_flight_per_session: int = 64
    breaker: BreakerConfig = field(default_factory=BreakerConfig)
    failure_outcomes: frozenset[str] = FAILURE_OUTCOMES


@dataclass
class _Server:
    spec: ServerSpec
    breaker: CircuitBreaker
    connection: McpConnection | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    failures_in_a_row: int = 0
    reconnects: int = 0
    next_connect_at: float = 0.0
    last_connect_error: str = ""


class ResilientMCPManager:
    """Routes tool calls to MCP servers through breaker, timeout and retry."""

    def __init__(
        self,
        servers: list[ServerSpec],
        config: ManagerConfig | None = None,
        *,
        calls_sink: EventSink | None = None,
        breaker_sink: EventSink | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        errlog: TextIO | None = None,
        on_transition: Callable[[str, Transition], None] | None = None,
    ) -> None:
        self.config = config or ManagerConfig()
        self._servers = {s.name: _Server(s, CircuitBreaker(self.config.breaker)) for s in servers}
        self._calls = calls_sink or NullEventWriter()
        self._breaker_events = breaker_sink or NullEventWriter()
        self._wall = wall_clock
        self._mono = monotonic
        self._sleep = sleep
        self._errlog = errlog
        self._on_transition = on_transition
        self.outcomes: Counter[tuple[str, str, str]] = Counter()
        self._closed = False

    @property
    def server_names(self) -> list[str]:
        return list(self._servers)

    async def start(self) -> dict[str, str]:
        """Open a session to every server; returns ``{server: error}`` for those that failed."""
        results = await asyncio.gather(*(self._ensure_connection(s) for s in self._servers.values()))
        return {
            s.spec.name: s.last_connect_error
            for s, ok in zip(self._servers.values(), results, strict=True)
            if not ok
        }

    def breaker_state(self, server: str) -> BreakerState:
        return self._server(server).breaker.state

    def is_connected(self, server: str) -> bool:
        conn = self._server(server).connection
        return conn is not None and conn.alive

    def get_metrics(self) -> dict[str, Any]:
        """A snapshot for health checks and metrics."""
        return {
            name: {
                "breaker_state": str(s.breaker.state),
                "connected": s.connection is not None and s.connection.alive,
                "in_flight": s.connection.in_flight if s.connection else 0,
                "reconnects": s.reconnects,
                "last_connect_error": s.last_connect_error,
            }
            for name, s in self._servers.items()
        }

    async def call_tool(
        self, server: str, tool: str, arguments: dict[str, Any], *, request_id: str = "", session_id: str = ""
    ) -> CallToolResult:
        """Call ``tool`` on ``server``. Returns the result of a successful call.

        Raises :class:`ToolCallError` (with the last attempt's outcome) when every
        attempt failed or the breaker refused, and ``KeyError`` for an unknown server.
        """
        srv = self._server(server)
        last: ToolCallError | None = None
        for attempt in range(1, self.config.max_attempts + 1):
            if attempt > 1:
                await self._sleep(self.config.retry_backoff_s * 2 ** (attempt - 2))
            try:
                return await self._attempt(srv, tool, arguments, attempt, request_id, session_id)
            except ToolCallError as exc:
                last = exc
                if exc.outcome not in RETRYABLE_OUTCOMES:
                    raise
        assert last is not None
        raise last

    async def aclose(self) -> None:
        """Close every session (and stop stdio server processes)."""
        self._closed = True
        await asyncio.gather(
            *(s.connection.close() for s in self._servers.values() if s.connection is not None),
            return_exceptions=True,
        )
        self._calls.flush()
        self._breaker_events.flush()

    # -- internals ---------------------------------------------------------------------------

    def _server(self, name: str) -> _Server:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"unknown MCP server {name!r}; known: {', '.join(self._servers)}") from None

    async def _attempt(
        self,
        srv: _Server,
        tool: str,
        arguments: dict[str, Any],
        attempt: int,
        request_id: str,
        session_id: str,
    ) -> CallToolResult:
        t_start = self._wall()
        m_start = self._mono()
        permit, transitions = srv.breaker.admit(m_start)
        self._publish(srv, transitions)
        outcome = "ok"
        error = ""
        try:
            if not permit.allowed:
                outcome, error = "rejected_open", f"circuit breaker is {permit.state}"
                raise ToolCallError(srv.spec.name, tool, outcome, error)
            try:
                result = await self._call(srv, tool, arguments)
            except asyncio.CancelledError:
                outcome, error = "cancelled", "the caller cancelled the call"
                srv.breaker.on_ignored(permit)
                raise
            except TimeoutError:
                outcome, error = "timeout", f"no answer within {self.config.call_timeout_s}s"
            except ConnectionFailedError as exc:
                outcome, error = "transport_error", str(exc)
            except Exception as exc:
                outcome, error = "transport_error", describe(exc)
            else:
                if result.isError:
                    outcome, error = "tool_error", _result_text(result)
            self._settle(srv, permit, outcome, error)
            if outcome != "ok":
                raise ToolCallError(srv.spec.name, tool, outcome, error)
            return result
        finally:
            self._record(t_start, m_start, request_id, session_id, srv, tool, attempt, outcome, permit, error)

    async def _call(self, srv: _Server, tool: str, arguments: dict[str, Any]) -> CallToolResult:
        if not await self._ensure_connection(srv):
            raise ConnectionFailedError(f"{srv.spec.name}: not connected: {srv.last_connect_error}")
        assert srv.connection is not None
        return await srv.connection.call_tool(tool, arguments, self.config.call_timeout_s)

    def _settle(self, srv: _Server, permit: Permit, outcome: str, error: str) -> None:
        now = self._mono()
        if outcome == "ok":
            self._publish(srv, srv.breaker.on_success(permit, now))
        elif outcome in self.config.failure_outcomes:
            self._publish(srv, srv.breaker.on_failure(permit, now, f"{outcome}: {error}"[:200]))
        else:
            srv.breaker.on_ignored(permit)
        if outcome in RETRYABLE_OUTCOMES:
            srv.failures_in_a_row += 1
            if srv.failures_in_a_row >= SESSION_FAILURES_BEFORE_REOPEN and srv.connection is not None:
                # The session may be wedged (a dead HTTP peer leaves calls hanging): start afresh.
                stale, srv.connection = srv.connection, None
                srv.failures_in_a_row = 0
                asyncio.get_running_loop().create_task(stale.close())
        else:
            srv.failures_in_a_row = 0

    async def _ensure_connection(self, srv: _Server) -> bool:
        if srv.connection is not None and srv.connection.alive:
            return True
        async with srv.lock:
            if srv.connection is not None and srv.connection.alive:
                return True
            if self._closed or self._mono() < srv.next_connect_at:
                return False
            if srv.connection is not None:
                await srv.connection.close()
                srv.reconnects += 1
            conn = McpConnection(
                srv.spec.name,
                srv.spec.target,
                read_timeout_s=self.config.call_timeout_s,
                connect_timeout_s=self.config.connect_timeout_s,
                max_in_flight=self.config.max_in_flight_per_session,
                errlog=self._errlog,
            )
            try:
                await conn.start()
            except ConnectionFailedError as exc:
                srv.connection = None
                srv.last_connect_error = str(exc)
                # Back off so a dead server is not hammered with connection attempts.
                srv.next_connect_at = self._mono() + min(5.0, 0.5 * 2 ** min(srv.reconnects, 4))
                srv.reconnects += 1
                return False
            srv.connection = conn
            srv.last_connect_error = ""
            return True

    def _publish(self, srv: _Server, transitions: list[Transition]) -> None:
        for tr in transitions:
            # The breaker decides on the monotonic clock; the table wants wall time.
            t = self._wall() - (self._mono() - tr.at)
            self._breaker_events.write(
                {
                    "t": t,
                    "server": srv.spec.name,
                    "from_state": str(tr.from_state),
                    "to_state": str(tr.to_state),
                    "reason": tr.reason,
                }
            )
            if self._on_transition is not None:
                self._on_transition(srv.spec.name, tr)

    def _record(
        self,
        t_start: float,
        m_start: float,
        request_id: str,
        session_id: str,
        srv: _Server,
        tool: str,
        attempt: int,
        outcome: str,
        permit: Permit,
        error: str,
    ) -> None:
        self.outcomes[(srv.spec.name, tool, outcome)] += 1
        self._calls.write(
            {
                "t_start": t_start,
                "latency_s": self._mono() - m_start,
                "request_id": request_id,
                "session_id": session_id,
                "server": srv.spec.name,
                "tool": tool,
                "attempt": attempt,
                "outcome": outcome,
                "breaker_state": str(permit.state),
                "error": error[:500],
            }
        )


def _result_text(result: CallToolResult) -> str:
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    return " ".join(texts)[:500] or "the tool reported an error"


def server_specs(targets: Mapping[str, HttpTarget | StdioTarget]) -> list[ServerSpec]:
    return [ServerSpec(name, target) for name, target in targets.items()]

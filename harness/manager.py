"""ResilientMCPManager: every tool call of the system under test goes through here.

Per server it keeps a pool of persistent MCP sessions (``harness.pool``: dead
sessions are evicted and reopened in the background), a circuit breaker, a bulkhead, a retry planner
with a retry budget, and, for tools marked idempotent, hedged requests. One call:

    planner.start ─► attempt ─► [breaker admit ─► bulkhead slot ─► call within timeout
                                 ─► breaker.record] ─► planner.decide ─► sleep ─► attempt ...

Every attempt (and every hedge) is one row in the ``calls`` table and every
breaker transition one row in ``breaker``. Outcomes: ``ok``, ``tool_error`` (the
tool answered ``isError``), ``transport_error`` (no usable answer), ``timeout``,
``rejected_open`` (the breaker refused), ``pool_timeout`` (no bulkhead slot),
``cancelled`` (the caller gave up; never counted against the server), ``denied``
(the optional :class:`~harness.call_hooks.ToolAuthorizer` refused the caller: the
call never reached the breaker or the server). An optional
:class:`~harness.call_hooks.ToolCache` answers idempotent tools without a call.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import httpx
from mcp.types import CallToolResult, TextContent, Tool

from harness.call_hooks import ToolAuthorizer, ToolCache
from harness.connection import ConnectionFailedError, HttpTarget, StdioTarget, describe, unwrap_exception
from harness.errors import ToolCallError
from harness.events import EventSink, NullEventWriter
from harness.pool import PoolConfig, PoolExhaustedError, SessionPool
from harness.resilience import (
    BreakerConfig,
    BreakerState,
    BudgetConfig,
    Bulkhead,
    BulkheadConfig,
    CircuitBreaker,
    HedgeConfig,
    HedgePolicy,
    Permit,
    PoolTimeoutError,
    RatioBudget,
    RetryConfig,
    RetryPlanner,
    SlidingWindowConfig,
    Stop,
    Transition,
    attempt_timeout_s,
    hedged,
)

__all__ = ["ManagerConfig", "ResilientMCPManager", "ServerSpec"]


@dataclass(frozen=True)
class ServerSpec:
    """One MCP server the manager talks to."""

    name: str
    target: HttpTarget | StdioTarget
    config: ManagerConfig | None = None  # this server's own settings; None: the manager's


@dataclass(frozen=True)
class ManagerConfig:
    """How the manager treats every server (units in the names)."""

    call_timeout_s: float = 5.0
    connect_timeout_s: float = 10.0
    pool: PoolConfig = field(default_factory=PoolConfig)
    breaker: BreakerConfig | SlidingWindowConfig = field(default_factory=BreakerConfig)
    breaker_enabled: bool = True
    retry: RetryConfig = field(default_factory=lambda: RetryConfig(max_attempts=1))
    retry_budget: BudgetConfig | None = field(default_factory=BudgetConfig)
    bulkhead: BulkheadConfig = field(
        default_factory=lambda: BulkheadConfig(max_concurrent=64, max_queue=1000, max_wait_s=5.0)
    )
    hedge_tools: frozenset[str] = frozenset()
    hedge: HedgeConfig = field(default_factory=HedgeConfig)
    seed: int = 0


@dataclass
class _Server:
    spec: ServerSpec
    config: ManagerConfig
    breaker: CircuitBreaker
    bulkhead: Bulkhead
    planner: RetryPlanner
    hedge: HedgePolicy | None
    pool: SessionPool
    retries: int = 0
    hedges: int = 0


class ResilientMCPManager:
    """Routes tool calls to MCP servers through breaker, bulkhead, timeout, retry and hedging."""

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
        authorizer: ToolAuthorizer | None = None,
        cache: ToolCache | None = None,
    ) -> None:
        self.config = config or ManagerConfig()
        self._calls = calls_sink or NullEventWriter()
        self._breaker_events = breaker_sink or NullEventWriter()
        self._wall = wall_clock
        self._mono = monotonic
        self._sleep = sleep
        self._errlog = errlog
        self._on_transition = on_transition
        self._authorizer = authorizer
        self._cache = cache
        self._servers = {s.name: self._build_server(s) for s in servers}
        self.outcomes: Counter[tuple[str, str, str]] = Counter()

    def _build_server(self, spec: ServerSpec) -> _Server:
        cfg = spec.config or self.config
        breaker = CircuitBreaker(cfg.breaker)
        if not cfg.breaker_enabled:
            self._publish_to(spec.name, breaker.disable(self._mono(), "disabled by configuration"))
        budget = RatioBudget(cfg.retry_budget) if cfg.retry_budget is not None else None
        rng = random.Random(f"{cfg.seed}:{spec.name}:retry")
        hedge = HedgePolicy(cfg.hedge) if any(_hedges(spec.name, t) for t in cfg.hedge_tools) else None
        pool = SessionPool(
            spec.name,
            spec.target,
            cfg.pool,
            read_timeout_s=cfg.call_timeout_s,
            connect_timeout_s=cfg.connect_timeout_s,
            errlog=self._errlog,
            monotonic=self._mono,
        )
        planner = RetryPlanner(cfg.retry, rng=rng, budget=budget)
        return _Server(spec, cfg, breaker, Bulkhead(cfg.bulkhead, name=spec.name), planner, hedge, pool)

    @property
    def server_names(self) -> list[str]:
        return list(self._servers)

    async def start(self) -> dict[str, str]:
        """Open every server's pool; returns ``{server: error}`` for servers with no live session.

        Sessions that failed keep reconnecting in the background.
        """
        results = await asyncio.gather(*(s.pool.start() for s in self._servers.values()))
        return {
            s.spec.name: "; ".join(errors)
            for s, errors in zip(self._servers.values(), results, strict=True)
            if errors and s.pool.alive == 0
        }

    def breaker_state(self, server: str) -> BreakerState:
        return self._server(server).breaker.state

    def is_connected(self, server: str) -> bool:
        return self._server(server).pool.alive > 0

    def get_metrics(self) -> dict[str, Any]:
        """A snapshot for health checks, metrics and samples."""
        return {
            name: {
                "breaker_state": str(s.breaker.state),
                "connected": s.pool.alive > 0,
                "bulkhead_in_use": s.bulkhead.in_use,
                "bulkhead_waiting": s.bulkhead.waiting,
                "retries": s.retries,
                "hedges": s.hedges,
                **s.pool.metrics(),
            }
            for name, s in self._servers.items()
        }

    async def list_tools(self, server: str) -> list[Tool]:
        """The tools ``server`` offers.

        Raises :class:`ToolCallError` with outcome ``transport_error`` when it cannot be reached.
        """
        srv = self._server(server)
        try:
            return await srv.pool.list_tools()
        except (TimeoutError, ConnectionFailedError, PoolExhaustedError) as exc:
            raise ToolCallError(server, "tools/list", "transport_error", describe(exc)) from None

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        request_id: str = "",
        session_id: str = "",
        deadline: float | None = None,
    ) -> CallToolResult:
        """Call ``tool`` on ``server``; ``deadline`` is on the manager's monotonic clock.

        Returns the result of a successful attempt (or the cache's answer). Raises
        :class:`ToolCallError` (the last attempt's outcome, or ``denied`` when the
        authorizer refuses) when the retry planner stops, and ``KeyError`` for an
        unknown server.
        """
        srv = self._server(server)
        if self._authorizer is not None:
            reason = self._authorizer.authorize(server, tool, request_id=request_id, session_id=session_id)
            if reason is not None:
                t_start, m_start = self._wall(), self._mono()
                state_now = str(srv.breaker.state)
                self._record(
                    t_start, m_start, request_id, session_id, srv, tool, 1, 0, "denied", state_now, reason
                )
                raise ToolCallError(server, tool, "denied", reason)
        if self._cache is None:
            return await self._call_tool(srv, tool, arguments, request_id, session_id, deadline)
        cached = await self._cache.get(server, tool, arguments)
        if cached is not None:
            return cached
        result = await self._call_tool(srv, tool, arguments, request_id, session_id, deadline)
        await self._cache.put(server, tool, arguments, result)
        return result

    async def _call_tool(
        self,
        srv: _Server,
        tool: str,
        arguments: dict[str, Any],
        request_id: str,
        session_id: str,
        deadline: float | None,
    ) -> CallToolResult:
        state = srv.planner.start(self._mono(), deadline)
        attempt = 1
        while True:
            try:
                if srv.hedge is not None and self._is_hedged(srv, tool):
                    return await self._hedged_attempt(
                        srv, tool, arguments, attempt, request_id, session_id, deadline
                    )
                return await self._attempt(srv, tool, arguments, attempt, request_id, session_id, deadline)
            except ToolCallError as exc:
                decision = srv.planner.decide(state, exc.outcome, self._mono(), exc.retry_after_s)
                if isinstance(decision, Stop):
                    raise
                srv.retries += 1
                attempt = decision.attempt
                await self._sleep(decision.delay_s)

    async def aclose(self) -> None:
        """Close every pool (and so stop stdio server processes)."""
        await asyncio.gather(*(s.pool.close() for s in self._servers.values()), return_exceptions=True)
        self._calls.flush()
        self._breaker_events.flush()

    # -- internals ---------------------------------------------------------------------------

    def _server(self, name: str) -> _Server:
        try:
            return self._servers[name]
        except KeyError:
            raise KeyError(f"unknown MCP server {name!r}; known: {', '.join(self._servers)}") from None

    def _is_hedged(self, srv: _Server, tool: str) -> bool:
        tools = srv.config.hedge_tools
        return tool in tools or f"{srv.spec.name}.{tool}" in tools

    async def _hedged_attempt(
        self,
        srv: _Server,
        tool: str,
        arguments: dict[str, Any],
        attempt: int,
        request_id: str,
        session_id: str,
        deadline: float | None,
    ) -> CallToolResult:
        assert srv.hedge is not None

        def count_hedge(_delay_s: float) -> None:
            srv.hedges += 1

        return await hedged(
            lambda i: self._attempt(srv, tool, arguments, attempt, request_id, session_id, deadline, hedge=i),
            srv.hedge,
            clock=self._mono,
            sleep=self._sleep,
            on_hedge=count_hedge,
        )

    async def _attempt(
        self,
        srv: _Server,
        tool: str,
        arguments: dict[str, Any],
        attempt: int,
        request_id: str,
        session_id: str,
        deadline: float | None,
        hedge: int = 0,
    ) -> CallToolResult:
        t_start = self._wall()
        m_start = self._mono()
        permit, transitions = srv.breaker.admit(m_start)
        self._publish(srv, transitions)
        outcome, error = "ok", ""
        retry_after: float | None = None
        try:
            if not permit.allowed:
                outcome, error = "rejected_open", f"circuit breaker is {permit.state}"
                raise ToolCallError(srv.spec.name, tool, outcome, error)
            try:
                await srv.bulkhead.acquire()
            except PoolTimeoutError as exc:
                srv.breaker.on_ignored(permit)
                outcome, error = "pool_timeout", str(exc)
                raise ToolCallError(srv.spec.name, tool, outcome, error) from None
            except asyncio.CancelledError:
                srv.breaker.on_ignored(permit)
                outcome, error = "cancelled", "the caller cancelled the call"
                raise
            try:
                timeout_s = attempt_timeout_s(srv.config.call_timeout_s, deadline, self._mono())
                result = await srv.pool.call_tool(tool, arguments, timeout_s or srv.config.call_timeout_s)
            except asyncio.CancelledError:
                outcome, error = "cancelled", "the caller cancelled the call"
                srv.breaker.on_ignored(permit)
                raise
            except TimeoutError:
                outcome, error = "timeout", f"no answer within {srv.config.call_timeout_s}s"
            except PoolExhaustedError as exc:
                outcome, error = "pool_timeout", str(exc)
            except ConnectionFailedError as exc:
                outcome, error = "transport_error", str(exc)
            except Exception as exc:  # noqa: BLE001 - any transport/protocol failure of the SDK is an outcome
                outcome, error = "transport_error", describe(exc)
                retry_after = _retry_after(exc)
            else:
                if result.isError:
                    outcome, error = "tool_error", _result_text(result)
            finally:
                srv.bulkhead.release()
            self._settle(srv, permit, outcome, error, self._mono() - m_start)
            if outcome != "ok":
                raise ToolCallError(srv.spec.name, tool, outcome, error, retry_after_s=retry_after)
            return result
        finally:
            state_in = str(permit.state)
            self._record(
                t_start, m_start, request_id, session_id, srv, tool, attempt, hedge, outcome, state_in, error
            )

    def _settle(self, srv: _Server, permit: Permit, outcome: str, error: str, duration_s: float) -> None:
        cause = f"{outcome}: {error}"[:200] if outcome != "ok" else ""
        self._publish(srv, srv.breaker.record(permit, self._mono(), outcome, duration_s, cause))

    def _publish(self, srv: _Server, transitions: list[Transition]) -> None:
        self._publish_to(srv.spec.name, transitions)

    def _publish_to(self, server: str, transitions: list[Transition]) -> None:
        for tr in transitions:
            # The breaker decides on the monotonic clock; the table wants wall time.
            t = self._wall() - (self._mono() - tr.at)
            self._breaker_events.write(
                {
                    "t": t,
                    "server": server,
                    "from_state": str(tr.from_state),
                    "to_state": str(tr.to_state),
                    "reason": tr.reason,
                }
            )
            if self._on_transition is not None:
                self._on_transition(server, tr)

    def _record(
        self,
        t_start: float,
        m_start: float,
        request_id: str,
        session_id: str,
        srv: _Server,
        tool: str,
        attempt: int,
        hedge: int,
        outcome: str,
        breaker_state: str,
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
                "hedge": hedge,
                "outcome": outcome,
                "breaker_state": breaker_state,
                "error": error[:500],
            }
        )


def _result_text(result: CallToolResult) -> str:
    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    return " ".join(texts)[:500] or "the tool reported an error"


def _retry_after(exc: BaseException) -> float | None:
    """The server's ``Retry-After`` (seconds) when the transport failed with an HTTP 429/503."""
    leaf = unwrap_exception(exc)
    if isinstance(leaf, httpx.HTTPStatusError):
        value = leaf.response.headers.get("retry-after")
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None
    return None


def _hedges(server: str, name: str) -> bool:
    """Whether a ``hedging.tools`` entry (``tool`` or ``server.tool``) can apply to ``server``."""
    return "." not in name or name.startswith(f"{server}.")

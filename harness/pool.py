"""A pool of persistent MCP sessions to one server.

Over stdio each session is its own server process; over HTTP each is an MCP
session with its own sized httpx client. A call takes the least-loaded live
session that is under its in-flight cap; when every live session is full the
caller waits (bounded in time and in the number of waiters) and then gets
:class:`PoolExhaustedError` (the ``pool_timeout`` outcome). When no session is
alive at all the call fails at once (:class:`ConnectionFailedError`), so a dead
server costs its callers nothing and its breaker sees the failures.

A session is evicted, and never handed out again, when its owner task ends
(EOF, closed stream, crashed transport) or after ``failures_before_evict``
consecutive timeouts or transport errors. Evicted slots reconnect in the
background with exponential backoff. Idle sessions are pinged every
``health_interval_s``; busy ones are not (real traffic proves them), so health
checks never take capacity from callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, CallToolResult, Tool

from harness.connection import ConnectionFailedError, HttpTarget, McpConnection, StdioTarget, describe
from harness.errors import ChaosbenchError

__all__ = ["PoolConfig", "PoolExhaustedError", "SessionPool"]

#: JSON-RPC error codes the SDK uses when a session is over: the connection closed, or the
#: HTTP server answered 404 for the session id ("Session terminated", code 32600).
SESSION_GONE_CODES = frozenset({CONNECTION_CLOSED, 32600})


class PoolExhaustedError(ChaosbenchError):
    """Every live session was at its in-flight cap for the whole acquire timeout."""


@dataclass(frozen=True)
class PoolConfig:
    """Pool settings (units in names). Raises ``ValueError`` for a value out of range."""

    size: int = 1
    max_in_flight_per_session: int = 64
    acquire_timeout_s: float = 5.0
    max_waiters: int = 1000
    failures_before_evict: int = 3
    reconnect_backoff_min_s: float = 0.25
    reconnect_backoff_max_s: float = 2.0
    health_interval_s: float = 5.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"size must be >= 1, got {self.size}")
        if self.max_in_flight_per_session < 1:
            raise ValueError(f"max_in_flight_per_session must be >= 1, got {self.max_in_flight_per_session}")
        if self.acquire_timeout_s < 0 or self.max_waiters < 0:
            raise ValueError("acquire_timeout_s and max_waiters must be >= 0")
        if self.failures_before_evict < 1:
            raise ValueError(f"failures_before_evict must be >= 1, got {self.failures_before_evict}")
        if not 0 < self.reconnect_backoff_min_s <= self.reconnect_backoff_max_s:
            raise ValueError("need 0 < reconnect_backoff_min_s <= reconnect_backoff_max_s")


@dataclass
class _Slot:
    index: int
    conn: McpConnection | None = None
    reserved: int = 0
    failures: int = 0
    connect_attempts: int = 0
    last_used: float = 0.0
    connecting: bool = False
    reconnect: asyncio.Task[None] | None = None


@dataclass
class PoolStats:
    created: int = 0
    reused: int = 0
    evicted: int = 0
    reconnects: int = 0
    failed_connects: int = 0
    waits: int = 0
    exhausted: int = 0
    last_error: str = ""
    extra: dict[str, int] = field(default_factory=dict)


class SessionPool:
    """``size`` sessions to one MCP server; see the module docstring."""

    def __init__(
        self,
        name: str,
        target: HttpTarget | StdioTarget,
        config: PoolConfig | None = None,
        *,
        read_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        errlog: TextIO | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.target = target
        self.config = config or PoolConfig()
        self._read_timeout_s = read_timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._errlog = errlog
        self._mono = monotonic
        self._sleep = sleep
        self._slots = [_Slot(i) for i in range(self.config.size)]
        self._capacity = asyncio.Condition()
        self._waiters = 0
        self._closed = False
        self._health: asyncio.Task[None] | None = None
        self._started = False
        self._start_lock = asyncio.Lock()
        self._inline_lock = asyncio.Lock()
        self._inline_not_before = 0.0
        self.stats = PoolStats()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> list[str]:
        """Open every session; failed ones reconnect in the background. Returns their errors.

        Called by the first call if nobody called it before; later calls return at once.
        """
        async with self._start_lock:
            if self._started:
                return []
            self._started = True
            return await self._start()

    async def _start(self) -> list[str]:
        results = await asyncio.gather(*(self._open(slot) for slot in self._slots))
        errors = [error for error in results if error]
        for slot, error in zip(self._slots, results, strict=True):
            if error:
                self._schedule_reconnect(slot)
        if self.config.health_interval_s > 0:
            self._health = asyncio.create_task(self._health_loop(), name=f"pool-health-{self.name}")
        return errors

    async def close(self) -> None:
        """Close every session (stdio: stop every server process) and stop background tasks."""
        self._closed = True
        tasks = [s.reconnect for s in self._slots if s.reconnect is not None]
        if self._health is not None:
            tasks.append(self._health)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        conns = [s.conn for s in self._slots if s.conn is not None]
        for slot in self._slots:
            slot.conn = None
        await asyncio.gather(*(c.close() for c in conns), return_exceptions=True)
        async with self._capacity:
            self._capacity.notify_all()

    # -- calls ----------------------------------------------------------------------------------

    @property
    def alive(self) -> int:
        return sum(1 for s in self._slots if s.conn is not None and s.conn.alive)

    @property
    def in_flight(self) -> int:
        return sum(s.reserved for s in self._slots)

    @property
    def waiters(self) -> int:
        return self._waiters

    async def call_tool(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallToolResult:
        """Call through the least-loaded session. Raises :class:`PoolExhaustedError`,
        :class:`ConnectionFailedError`, ``TimeoutError`` or the transport's error."""
        slot = await self._acquire()
        conn = slot.conn
        assert conn is not None
        try:
            result = await conn.call_tool(tool, arguments, timeout_s)
        except (TimeoutError, ConnectionFailedError):
            self._failed(slot, conn)
            raise
        except asyncio.CancelledError:
            raise
        except McpError as exc:
            if exc.error.code in SESSION_GONE_CODES:
                # The server no longer knows this session (restarted, or it closed): never reuse it.
                if slot.conn is conn:
                    self._evict(slot, f"session gone: {exc.error.message}")
            else:
                self._failed(slot, conn)
            raise
        except Exception:  # any transport failure counts against the session, then propagates
            self._failed(slot, conn)
            raise
        else:
            slot.failures = 0
            return result
        finally:
            await self._release(slot)

    async def list_tools(self) -> list[Tool]:
        slot = await self._acquire()
        assert slot.conn is not None
        try:
            return await slot.conn.list_tools()
        finally:
            await self._release(slot)

    def metrics(self) -> dict[str, int | str]:
        st = self.stats
        return {
            "sessions_alive": self.alive,
            "sessions_size": self.config.size,
            "in_flight": self.in_flight,
            "waiters": self._waiters,
            "created": st.created,
            "reused": st.reused,
            "evicted": st.evicted,
            "reconnects": st.reconnects,
            "failed_connects": st.failed_connects,
            "exhausted": st.exhausted,
            "last_error": st.last_error,
        }

    # -- internals ------------------------------------------------------------------------------

    def _pick(self) -> _Slot | None:
        cap = self.config.max_in_flight_per_session
        live = [s for s in self._slots if s.conn is not None and s.conn.alive and s.reserved < cap]
        return min(live, key=lambda s: (s.reserved, s.last_used)) if live else None

    async def _acquire(self) -> _Slot:
        if not self._started:
            await self.start()
        slot = self._pick()
        if slot is None and self.alive == 0:
            slot = await self._connect_now()
            if slot is None:
                raise ConnectionFailedError(
                    f"{self.name}: no live session ({self.stats.last_error or 'reconnecting'})"
                )
        elif slot is None:
            slot = await self._wait_for_capacity()
        slot.reserved += 1
        slot.last_used = self._mono()
        self.stats.reused += 1
        return slot

    async def _connect_now(self) -> _Slot | None:
        """With no live session, the caller itself tries one connection (at most one at a time,
        and one per ``reconnect_backoff_min_s``) instead of failing on a stale error.

        Behind a breaker this is what a half-open probe should do: test the server now, not
        wait out the pool's reconnect backoff. Without a breaker the rate limit keeps a dead
        server from being hammered.
        """
        now = self._mono()
        if self._closed or self._inline_lock.locked() or now < self._inline_not_before:
            return None
        async with self._inline_lock:
            self._inline_not_before = now + self.config.reconnect_backoff_min_s
            slot = next((s for s in self._slots if s.conn is None and not s.connecting), None)
            if slot is None:
                return None
            if slot.reconnect is not None and not slot.reconnect.done():
                slot.reconnect.cancel()  # it is sleeping out its backoff (not connecting): take over
            if await self._open(slot):
                self._schedule_reconnect(slot)
                return None
            self.stats.reconnects += 1
            self._notify_soon()
            return slot if slot.conn is not None and slot.conn.alive else None

    async def _wait_for_capacity(self) -> _Slot:
        """Wait (at most ``acquire_timeout_s`` in all) until a live session has room.

        A woken waiter may find the room already taken by a caller that never waited
        (``asyncio.wait_for`` resumes it a loop iteration later): it waits again for the
        time left instead of failing, so a full pool never looks like a dead one.
        """
        cfg = self.config
        if self._waiters >= cfg.max_waiters:
            self.stats.exhausted += 1
            raise PoolExhaustedError(f"{self.name}: {self._waiters} callers already waiting for a session")
        self._waiters += 1
        self.stats.waits += 1
        deadline = self._mono() + cfg.acquire_timeout_s
        try:
            while True:
                slot = self._pick()
                if slot is not None:
                    return slot
                if self._closed or self.alive == 0:
                    raise ConnectionFailedError(
                        f"{self.name}: no live session ({self.stats.last_error or 'closed'})"
                    )
                remaining = deadline - self._mono()
                try:
                    if remaining <= 0:
                        raise TimeoutError
                    async with self._capacity:
                        await asyncio.wait_for(
                            self._capacity.wait_for(
                                lambda: self._pick() is not None or self._closed or self.alive == 0
                            ),
                            remaining,
                        )
                except TimeoutError:
                    self.stats.exhausted += 1
                    raise PoolExhaustedError(
                        f"{self.name}: all {self.alive} live session(s) at {cfg.max_in_flight_per_session} "
                        f"calls in flight for {cfg.acquire_timeout_s:g}s"
                    ) from None
        finally:
            self._waiters -= 1

    async def _release(self, slot: _Slot) -> None:
        slot.reserved -= 1
        if self._waiters:
            async with self._capacity:
                self._capacity.notify()

    def _failed(self, slot: _Slot, conn: McpConnection) -> None:
        slot.failures += 1
        if slot.failures >= self.config.failures_before_evict and slot.conn is conn:
            self._evict(slot, f"{slot.failures} consecutive failures")

    def _evict(self, slot: _Slot, why: str) -> None:
        conn, slot.conn = slot.conn, None
        slot.failures = 0
        if conn is None:
            return
        self.stats.evicted += 1
        self.stats.last_error = f"session {slot.index} evicted: {why}"
        asyncio.get_running_loop().create_task(conn.close())
        self._schedule_reconnect(slot)
        self._notify_soon()

    def _notify_soon(self) -> None:
        async def notify() -> None:
            async with self._capacity:
                self._capacity.notify_all()

        if self._waiters:
            asyncio.get_running_loop().create_task(notify())

    def _on_dead(self, slot: _Slot) -> Callable[[McpConnection], None]:
        def dead(conn: McpConnection) -> None:
            if slot.conn is conn and not self._closed:
                cause = describe(conn.error) if conn.error else "session ended"
                self._evict(slot, cause)

        return dead

    async def _open(self, slot: _Slot) -> str:
        conn = McpConnection(
            f"{self.name}#{slot.index}",
            self.target,
            read_timeout_s=self._read_timeout_s,
            connect_timeout_s=self._connect_timeout_s,
            max_in_flight=self.config.max_in_flight_per_session,
            errlog=self._errlog,
        )
        slot.connecting = True
        try:
            await conn.start()
        except ConnectionFailedError as exc:
            self.stats.failed_connects += 1
            self.stats.last_error = str(exc)
            return str(exc)
        finally:
            slot.connecting = False
        if self._closed:
            await conn.close()
            return "pool closed"
        conn.on_dead(self._on_dead(slot))
        slot.conn = conn
        slot.failures = 0
        slot.connect_attempts = 0
        self.stats.created += 1
        return ""

    def _schedule_reconnect(self, slot: _Slot) -> None:
        if self._closed or (slot.reconnect is not None and not slot.reconnect.done()):
            return
        slot.reconnect = asyncio.get_running_loop().create_task(
            self._reconnect(slot), name=f"pool-reconnect-{self.name}#{slot.index}"
        )

    async def _reconnect(self, slot: _Slot) -> None:
        cfg = self.config
        while not self._closed and slot.conn is None:
            delay = min(cfg.reconnect_backoff_max_s, cfg.reconnect_backoff_min_s * 2**slot.connect_attempts)
            slot.connect_attempts += 1
            await self._sleep(delay)
            if self._closed:
                return
            if not await self._open(slot):
                self.stats.reconnects += 1
                async with self._capacity:
                    self._capacity.notify_all()

    async def _health_loop(self) -> None:
        interval = self.config.health_interval_s
        while not self._closed:
            await self._sleep(interval)
            now = self._mono()
            for slot in self._slots:
                conn = slot.conn
                if conn is None or not conn.alive or slot.reserved > 0 or now - slot.last_used < interval:
                    continue
                try:
                    await conn.ping(min(interval, self._read_timeout_s))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - any failed ping evicts the idle session
                    if slot.conn is conn:
                        self._evict(slot, f"health check failed: {describe(exc)}")

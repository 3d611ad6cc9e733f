"""One persistent MCP client session, owned by a background task.

The mcp SDK's transports are anyio context managers that must be entered and
left by the same task, so each connection runs an *owner task* that opens the
transport and the ``ClientSession``, signals readiness, and holds them open
until asked to stop. Calls from any task share the session, up to
``max_in_flight`` at once (over HTTP, more than about 100 in flight overflows
httpx's pool; the pool is sized to the cap).

The connection is dead once its owner task ends for any reason (server EOF,
a transport error, a crashed process): callers check :attr:`McpConnection.alive`
and open a new one. Every wait is bounded by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TextIO

import anyio
import httpx
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.message import SessionMessage
from mcp.types import CallToolResult, Tool

from harness.errors import ChaosbenchError
from harness.mcp_session import CachedValidationSession

__all__ = ["ConnectionFailedError", "HttpTarget", "McpConnection", "StdioTarget", "unwrap_exception"]


class ConnectionFailedError(ChaosbenchError):
    """The MCP session could not be opened, or died."""


@dataclass(frozen=True)
class HttpTarget:
    """A streamable-HTTP MCP endpoint, e.g. ``http://127.0.0.1:8000/mcp``."""

    url: str


@dataclass(frozen=True)
class StdioTarget:
    """A command that speaks MCP over stdin/stdout."""

    command: str
    args: Sequence[str] = ()
    env: dict[str, str] | None = field(default=None)


def unwrap_exception(exc: BaseException) -> BaseException:
    """The first leaf of nested ``ExceptionGroup``s (the SDK wraps transport errors in them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    leaf = unwrap_exception(exc)
    text = str(leaf).strip()
    return f"{type(leaf).__name__}: {text}" if text else type(leaf).__name__


class McpConnection:
    """A persistent ``ClientSession`` over HTTP or stdio."""

    def __init__(
        self,
        name: str,
        target: HttpTarget | StdioTarget,
        *,
        read_timeout_s: float,
        connect_timeout_s: float = 10.0,
        max_in_flight: int = 64,
        errlog: TextIO | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.read_timeout_s = read_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._max_in_flight = max_in_flight
        self._errlog = errlog or sys.stderr
        self._session: ClientSession | None = None
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._owner: asyncio.Task[None] | None = None
        self.error: BaseException | None = None
        self.in_flight = 0
        self._on_dead: Callable[[McpConnection], None] | None = None

    def on_dead(self, callback: Callable[[McpConnection], None]) -> None:
        """Call ``callback(self)`` once the session ends for a reason other than :meth:`close`."""
        self._on_dead = callback

    @property
    def alive(self) -> bool:
        return self._session is not None and self._owner is not None and not self._owner.done()

    async def start(self) -> None:
        """Open the session. Raises :class:`ConnectionFailedError` if it fails or takes too long."""
        self._owner = asyncio.create_task(self._own(), name=f"mcp-owner-{self.name}")
        self._owner.add_done_callback(self._owner_done)
        try:
            await asyncio.wait_for(self._ready.wait(), self.connect_timeout_s)
        except TimeoutError:
            await self.close()
            raise ConnectionFailedError(
                f"{self.name}: no MCP session within {self.connect_timeout_s}s ({self._where()})"
            ) from None
        if not self.alive:
            cause = describe(self.error) if self.error else "the session closed during initialize"
            await self.close()
            raise ConnectionFailedError(f"{self.name}: cannot open MCP session ({self._where()}): {cause}")

    async def ping(self, timeout_s: float) -> None:
        """An MCP ping; raises ``TimeoutError`` or a transport error if the server does not answer."""
        session = self._require()
        await asyncio.wait_for(session.send_ping(), timeout_s)

    async def list_tools(self) -> list[Tool]:
        session = self._require()
        result = await asyncio.wait_for(session.list_tools(), self.read_timeout_s)
        return list(result.tools)

    async def call_tool(self, tool: str, arguments: dict[str, Any], timeout_s: float) -> CallToolResult:
        """Call a tool; raises ``TimeoutError`` past ``timeout_s`` and transport errors as they come."""
        async with self._slots:
            session = self._require()
            self.in_flight += 1
            try:
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for wraps every call in a
                # new Task, which cost a measurable share of the manager's per-call CPU. The SDK's
                # own read timeout is a backstop a second later, so a slow call is always our
                # TimeoutError (outcome `timeout`), never a race with the SDK's McpError.
                async with asyncio.timeout(timeout_s):
                    return await session.call_tool(
                        tool, arguments, read_timeout_seconds=timedelta(seconds=timeout_s + 1.0)
                    )
            finally:
                self.in_flight -= 1

    async def close(self) -> None:
        """Close the session and, for stdio, stop the server process. Idempotent and bounded."""
        self._stop.set()
        owner = self._owner
        if owner is None or owner.done():
            return
        try:
            await asyncio.wait_for(asyncio.shield(owner), 5.0)
        except (TimeoutError, asyncio.CancelledError):
            owner.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(owner, 5.0)

    def _owner_done(self, _task: asyncio.Task[None]) -> None:
        if not self._stop.is_set() and self._ready.is_set() and self._on_dead is not None:
            self._on_dead(self)

    def _require(self) -> ClientSession:
        if self._session is None or not self.alive:
            cause = f": {describe(self.error)}" if self.error else ""
            raise ConnectionFailedError(f"{self.name}: MCP session is closed{cause}")
        return self._session

    def _where(self) -> str:
        if isinstance(self.target, HttpTarget):
            return self.target.url
        return " ".join([self.target.command, *self.target.args])

    async def _own(self) -> None:
        read_timeout = timedelta(seconds=self.read_timeout_s)
        try:
            async with contextlib.AsyncExitStack() as stack:
                if isinstance(self.target, HttpTarget):
                    client = httpx.AsyncClient(
                        timeout=httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s),
                        limits=httpx.Limits(
                            max_connections=self._max_in_flight + 4,
                            max_keepalive_connections=self._max_in_flight + 4,
                        ),
                    )
                    await stack.enter_async_context(client)
                    read, write, _ = await stack.enter_async_context(
                        streamable_http_client(self.target.url, http_client=client)
                    )
                else:
                    params = StdioServerParameters(
                        command=self.target.command, args=list(self.target.args), env=self.target.env
                    )
                    read, write = await stack.enter_async_context(stdio_client(params, errlog=self._errlog))
                # The session reads through a pump, so that the transport's end of stream
                # (a stdio server's EOF, a closed connection) ends the owner task at once and
                # the connection is known dead, not discovered by the next call's timeout.
                to_session, session_input = anyio.create_memory_object_stream[SessionMessage | Exception](0)
                transport_closed = asyncio.Event()
                pump = asyncio.create_task(
                    _pump(read, to_session, transport_closed), name=f"mcp-pump-{self.name}"
                )
                stack.push_async_callback(_cancel, pump)
                session = await stack.enter_async_context(
                    CachedValidationSession(session_input, write, read_timeout_seconds=read_timeout)
                )
                await session.initialize()
                self._session = session
                self._ready.set()
                stop = asyncio.create_task(self._stop.wait())
                closed = asyncio.create_task(transport_closed.wait())
                try:
                    await asyncio.wait((stop, closed), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.cancel()
                    closed.cancel()
                if transport_closed.is_set() and not self._stop.is_set():
                    self._session = None
                    self.error = ConnectionFailedError("the server closed the connection (end of stream)")
        except asyncio.CancelledError:
            if not self._stop.is_set():
                self.error = ConnectionFailedError("the session's owner task was cancelled")
        except BaseException as exc:  # noqa: BLE001 - the owner task records every end; it never re-raises
            self.error = exc
        finally:
            self._session = None
            self._ready.set()


async def _pump(
    source: MemoryObjectReceiveStream[SessionMessage | Exception],
    sink: MemoryObjectSendStream[SessionMessage | Exception],
    closed: asyncio.Event,
) -> None:
    try:
        async with sink:
            async for message in source:
                await sink.send(message)
    except (anyio.ClosedResourceError, anyio.BrokenResourceError):
        pass
    finally:
        closed.set()


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(BaseException):
        await task

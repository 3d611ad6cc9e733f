"""LangChain tools for MCP tools, executed through the :class:`~harness.manager.ResilientMCPManager`.

The tools are made by langchain-mcp-adapters' own ``convert_mcp_tool_to_langchain_tool``,
so names, descriptions, argument schemas, metadata, the conversion of results
(content blocks plus a ``structured_content`` artifact) and the handling of tool
errors (``isError`` becomes a ``ToolMessage`` with ``status="error"``) are exactly
the adapters'. Execution is rerouted by one of the adapters' tool interceptors,
:class:`ManagerToolRouter`, which never calls the adapters' handler: the call goes
through the manager (breaker, bulkhead, timeout, retry, ``calls`` rows) and the
adapters' session is never used. (``MultiServerMCPClient.get_tools()`` would open
a new MCP session, a new process over stdio, for every call.)

A turn's request id, session id and deadline reach the router as the LangGraph
runtime context (:class:`TurnContext`), and the router records every call there.
A manager failure other than a tool error (``transport_error``, ``timeout``,
``rejected_open``, ``pool_timeout``) raises :class:`~harness.errors.ToolCallError`
out of the tool, so the agent run stops with that outcome.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from langchain_core.tools import BaseTool
from langchain_mcp_adapters.interceptors import MCPToolCallRequest, MCPToolCallResult
from langchain_mcp_adapters.tools import convert_mcp_tool_to_langchain_tool
from mcp import ClientSession
from mcp.types import CallToolResult, TextContent, Tool

from harness.agent import ToolCallRecord
from harness.errors import ToolCallError

__all__ = [
    "ManagerToolRouter",
    "ToolManager",
    "TurnContext",
    "langchain_tool_name",
    "load_manager_tools",
    "manager_tools",
]


class ToolManager(Protocol):
    """What the tools need of the manager (the real one, or a fake in unit tests)."""

    async def list_tools(self, server: str) -> list[Tool]: ...

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        request_id: str = "",
        session_id: str = "",
        deadline: float | None = None,
    ) -> CallToolResult: ...


@dataclass
class TurnContext:
    """One turn's identity and deadline (LangGraph runtime context), and the tool calls it made."""

    request_id: str = ""
    session_id: str = ""
    deadline: float | None = None
    records: list[ToolCallRecord] = field(default_factory=list)


class ManagerToolRouter:
    """An adapters tool interceptor that executes the call through the manager instead of a session."""

    def __init__(self, manager: ToolManager, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._manager = manager
        self._mono = monotonic

    async def __call__(
        self,
        request: MCPToolCallRequest,
        handler: Callable[[MCPToolCallRequest], Awaitable[MCPToolCallResult]],
    ) -> MCPToolCallResult:
        context = getattr(request.runtime, "context", None)
        turn = context if isinstance(context, TurnContext) else TurnContext()
        server, tool = request.server_name, request.name
        started = self._mono()
        try:
            result = await self._manager.call_tool(
                server,
                tool,
                request.args,
                request_id=turn.request_id,
                session_id=turn.session_id,
                deadline=turn.deadline,
            )
        except ToolCallError as exc:
            turn.records.append(ToolCallRecord(server, tool, exc.outcome, self._mono() - started, exc.detail))
            if exc.outcome == "tool_error":
                # The manager turns isError into an exception; give the adapters the result
                # back so the model sees the error as the adapters show it.
                return CallToolResult(content=[TextContent(type="text", text=exc.detail)], isError=True)
            raise
        turn.records.append(ToolCallRecord(server, tool, "ok", self._mono() - started))
        return result


class _NoSession:
    """Stands in for the adapters' session: every call goes through the manager, never here."""

    def __init__(self, server: str) -> None:
        self._server = server

    async def call_tool(self, *args: object, **kwargs: object) -> CallToolResult:
        raise RuntimeError(
            f"{self._server}: a LangChain tool bypassed the manager; "
            "its ManagerToolRouter interceptor must handle every call"
        )


def langchain_tool_name(server: str, tool: str, *, prefixed: bool) -> str:
    """The LangChain name of ``tool`` on ``server`` (the adapters' ``server_tool`` form when prefixed)."""
    return f"{server}_{tool}" if prefixed else tool


def manager_tools(
    manager: ToolManager,
    listed: Mapping[str, Sequence[Tool]],
    *,
    prefixed: bool,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[BaseTool]:
    """LangChain tools for the MCP tools ``listed`` per server, each executed through ``manager``.

    With ``prefixed`` the names are ``<server>_<tool>`` (needed when two servers offer
    the same tool). Raises ``ValueError`` when two tools would get the same name.
    """
    router = ManagerToolRouter(manager, monotonic=monotonic)
    tools: list[BaseTool] = []
    for server, server_tools in listed.items():
        session = cast(ClientSession, _NoSession(server))
        tools += [
            convert_mcp_tool_to_langchain_tool(
                session,
                tool,
                tool_interceptors=[router],
                server_name=server,
                tool_name_prefix=prefixed,
            )
            for tool in server_tools
        ]
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool name(s) {duplicates} offered more than once; prefix tools with their server")
    return tools


async def load_manager_tools(
    manager: ToolManager,
    servers: Sequence[str],
    *,
    prefixed: bool | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[BaseTool]:
    """List every server's tools through the manager and convert them (see :func:`manager_tools`).

    ``prefixed`` defaults to true when there is more than one server. Raises
    :class:`~harness.errors.ToolCallError` when a server cannot be listed.
    """
    listed = {server: await manager.list_tools(server) for server in servers}
    if prefixed is None:
        prefixed = len(servers) > 1
    return manager_tools(manager, listed, prefixed=prefixed, monotonic=monotonic)

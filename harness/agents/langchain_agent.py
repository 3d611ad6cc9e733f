"""The LangChain agent (mode ``agent``): ``langchain.agents.create_agent`` over the simulated model.

One turn is one run of the agent graph: the :class:`SimulatedChatModel` asks for
the turn's planned tool calls one at a time, LangGraph's tool node runs each
through the LangChain tools of :mod:`harness.agents.tools` (and so through the
manager), and the model answers in text at the end. The plan is the scripted
agent's (:meth:`harness.agent.ScriptedAgent.plan`), so modes ``agent`` and
``tools`` make the same tool calls for the same seed, session and turn.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from langchain.agents import create_agent
from langchain_core.messages import BaseMessage
from langchain_core.runnables import Runnable

from harness.agent import SCRIPTS, ScriptedAgent, TurnResult
from harness.agents.simulated_llm import PlannedToolCall, SimulatedChatModel, TurnScript, turn_message
from harness.agents.tools import TurnContext, langchain_tool_name, load_manager_tools
from harness.errors import ConfigError, ToolCallError
from harness.manager import ResilientMCPManager

__all__ = ["SYSTEM_PROMPT", "LangChainAgent", "build_langchain_agent", "script_from_plan"]

SYSTEM_PROMPT = "You are a helpful assistant. Use the tools to answer questions about the weather."


class Plan(Protocol):
    """A turn's ``(server, tool, arguments)`` calls, optionally restricted to some servers."""

    def __call__(
        self, session_id: str, turn: int, servers: Sequence[str] | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]: ...


def script_from_plan(plan: Plan, *, prefixed: bool) -> TurnScript:
    """The simulated model's script for a ``(server, tool, arguments)`` plan."""

    def script(session_id: str, turn: int, servers: Sequence[str] | None = None) -> list[PlannedToolCall]:
        return [
            PlannedToolCall(langchain_tool_name(server, tool, prefixed=prefixed), args)
            for server, tool, args in plan(session_id, turn, servers)
        ]

    return script


class LangChainAgent:
    """Plays turns through a compiled ``create_agent`` graph whose context is a :class:`TurnContext`."""

    def __init__(self, graph: Runnable[Any, Any], servers: Sequence[str] = ()) -> None:
        self._graph = graph
        self._servers = tuple(servers)

    def _check_servers(self, servers: Sequence[str]) -> None:
        unknown = sorted(set(servers) - set(self._servers))
        if unknown or not servers:
            raise ValueError(
                f"cannot restrict a turn to server(s) {sorted(servers)}: unknown {unknown}; "
                f"known: {sorted(self._servers)}"
            )

    async def run_turn(
        self,
        session_id: str,
        turn: int,
        request_id: str,
        deadline: float | None = None,
        *,
        servers: Sequence[str] | None = None,
    ) -> TurnResult:
        """Play one turn. Its outcome is the first failed tool call's (a tool error ends the
        turn as the model gives up; any other failure stops the graph), else ``ok``.
        ``servers`` restricts the turn's tool calls (the model's script is told in the
        turn's opening message); ``ValueError`` for a server the agent does not have."""
        if servers is not None:
            self._check_servers(servers)
        context = TurnContext(request_id=request_id, session_id=session_id, deadline=deadline)
        message = turn_message(session_id, turn, servers=servers)
        try:
            state = await self._graph.ainvoke({"messages": [message]}, context=context)
        except ToolCallError as exc:
            reply = f"I could not use {exc.tool} on {exc.server}: {exc.outcome}"
            return TurnResult(outcome=exc.outcome, tool_calls=context.records, reply=reply)
        failed = next((r for r in context.records if r.outcome != "ok"), None)
        messages: list[BaseMessage] = state["messages"]
        return TurnResult(
            outcome="ok" if failed is None else failed.outcome,
            tool_calls=context.records,
            reply=messages[-1].text,
        )


async def build_langchain_agent(
    manager: ResilientMCPManager,
    server_kinds: Mapping[str, str],
    *,
    seed: int,
    tool_calls_per_turn: int = 2,
    ttft_s: float = 0.0,
    tokens_per_s: float = 0.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> LangChainAgent:
    """List the servers' tools through ``manager`` and build the agent.

    Raises :class:`~harness.errors.ToolCallError` when a server's tools cannot be
    listed, and :class:`~harness.errors.ConfigError` when a server lacks a tool its
    script calls.
    """
    planner = ScriptedAgent(manager, dict(server_kinds), seed=seed, tool_calls_per_turn=tool_calls_per_turn)
    prefixed = len(server_kinds) > 1
    tools = await load_manager_tools(manager, sorted(server_kinds), prefixed=prefixed, monotonic=monotonic)
    offered = {t.name for t in tools}
    for server, kind in sorted(server_kinds.items()):
        missing = [
            tool
            for tool, _ in SCRIPTS[kind]
            if langchain_tool_name(server, tool, prefixed=prefixed) not in offered
        ]
        if missing:
            raise ConfigError(
                f"server {server!r} (kind {kind}) does not offer {missing}, which its agent script calls; "
                f"tools offered: {sorted(offered)}"
            )
    model = SimulatedChatModel(
        script_from_plan(planner.plan, prefixed=prefixed), ttft_s, tokens_per_s, sleep=sleep
    )
    graph = create_agent(model, tools, system_prompt=SYSTEM_PROMPT, context_schema=TurnContext)
    return LangChainAgent(graph, sorted(server_kinds))

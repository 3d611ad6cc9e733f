"""Test doubles for the agents: a fake manager, recorded sleeps, a hand-advanced clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mcp.types import CallToolResult, TextContent, Tool

from harness.errors import ToolCallError
from tests.unit.harness.resilience.fakes import FakeClock, RecordedSleeps

__all__ = ["WEATHER_TOOLS", "Call", "FakeClock", "FakeManager", "RecordedSleeps"]

WEATHER_TOOLS = [
    Tool(
        name="get_current_weather",
        description="Current weather in a city.",
        inputSchema={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    ),
    Tool(
        name="get_forecast",
        description="Forecast for a city.",
        inputSchema={
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "default": 3}},
            "required": ["city"],
        },
    ),
]


@dataclass
class Call:
    server: str
    tool: str
    arguments: dict[str, Any]
    request_id: str
    session_id: str
    deadline: float | None


@dataclass
class FakeManager:
    """Answers every tool with a text and structured result; ``failures`` maps a tool to an outcome."""

    tools: dict[str, list[Tool]] = field(default_factory=lambda: {"weather": WEATHER_TOOLS})
    failures: dict[str, str] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    async def list_tools(self, server: str) -> list[Tool]:
        if server not in self.tools:
            raise ToolCallError(server, "tools/list", "transport_error", "not connected")
        return self.tools[server]

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
        self.calls.append(Call(server, tool, dict(arguments), request_id, session_id, deadline))
        if tool in self.failures:
            raise ToolCallError(server, tool, self.failures[tool], f"injected {self.failures[tool]}")
        return CallToolResult(
            content=[TextContent(type="text", text=f"{tool} answered")],
            structuredContent={"tool": tool, **arguments},
        )

"""LangChain tools made by langchain-mcp-adapters whose execution goes through the manager (a fake here)."""

from __future__ import annotations

import pytest
from langchain_core.messages import ToolMessage

from harness.agents import langchain_tool_name, load_manager_tools, manager_tools
from harness.errors import ToolCallError

from .fakes import WEATHER_TOOLS, FakeManager


def tool_call(name: str, args: dict[str, object]) -> dict[str, object]:
    return {"type": "tool_call", "id": "call_0_0", "name": name, "args": args}


async def test_tools_carry_the_mcp_names_descriptions_and_argument_schemas() -> None:
    tools = await load_manager_tools(FakeManager(), ["weather"])
    assert [t.name for t in tools] == ["get_current_weather", "get_forecast"]
    assert tools[0].description == "Current weather in a city."
    assert tools[1].args == {"city": {"type": "string"}, "days": {"type": "integer", "default": 3}}


async def test_a_call_goes_through_the_manager_and_converts_as_the_adapters_do() -> None:
    manager = FakeManager()
    (tool, _) = manager_tools(manager, {"weather": WEATHER_TOOLS}, prefixed=False)
    message = await tool.ainvoke(tool_call("get_current_weather", {"city": "Oslo"}))
    assert isinstance(message, ToolMessage)
    assert [(c.server, c.tool, c.arguments) for c in manager.calls] == [
        ("weather", "get_current_weather", {"city": "Oslo"})
    ]
    assert message.status == "success"
    assert [(b["type"], b["text"]) for b in message.content] == [("text", "get_current_weather answered")]  # type: ignore[index,union-attr]
    assert message.artifact == {"structured_content": {"tool": "get_current_weather", "city": "Oslo"}}


async def test_a_tool_error_reaches_the_model_as_an_error_tool_message() -> None:
    manager = FakeManager(failures={"get_forecast": "tool_error"})
    tools = manager_tools(manager, {"weather": WEATHER_TOOLS}, prefixed=False)
    message = await tools[1].ainvoke(tool_call("get_forecast", {"city": "Oslo"}))
    assert message.status == "error"
    assert message.text == "injected tool_error"


@pytest.mark.parametrize("outcome", ["transport_error", "timeout", "rejected_open", "pool_timeout"])
async def test_other_manager_failures_raise_out_of_the_tool(outcome: str) -> None:
    manager = FakeManager(failures={"get_forecast": outcome})
    tools = manager_tools(manager, {"weather": WEATHER_TOOLS}, prefixed=False)
    with pytest.raises(ToolCallError) as info:
        await tools[1].ainvoke(tool_call("get_forecast", {"city": "Oslo"}))
    assert info.value.outcome == outcome


async def test_tools_of_several_servers_are_prefixed_with_the_server_name() -> None:
    manager = FakeManager(tools={"north": WEATHER_TOOLS, "south": WEATHER_TOOLS})
    tools = await load_manager_tools(manager, ["north", "south"])
    assert [t.name for t in tools] == [
        "north_get_current_weather",
        "north_get_forecast",
        "south_get_current_weather",
        "south_get_forecast",
    ]
    assert langchain_tool_name("south", "get_forecast", prefixed=True) == "south_get_forecast"
    await tools[3].ainvoke(tool_call("south_get_forecast", {"city": "Lima"}))
    assert [(c.server, c.tool) for c in manager.calls] == [("south", "get_forecast")]


def test_the_same_tool_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="offered more than once"):
        manager_tools(FakeManager(), {"north": WEATHER_TOOLS, "south": WEATHER_TOOLS}, prefixed=False)


async def test_a_server_that_cannot_be_listed_raises_its_tool_call_error() -> None:
    with pytest.raises(ToolCallError, match="transport_error"):
        await load_manager_tools(FakeManager(), ["missing"])

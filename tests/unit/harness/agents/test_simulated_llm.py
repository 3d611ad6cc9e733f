"""The simulated chat model: scripted tool calls, then an answer; latency waited with recorded sleeps."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import StructuredTool

from harness.agent import ScriptedAgent
from harness.agents import (
    PlannedToolCall,
    SimulatedChatModel,
    estimate_tokens,
    script_from_plan,
    turn_message,
)

from .fakes import RecordedSleeps

PLAN = [
    PlannedToolCall("get_current_weather", {"city": "Oslo"}),
    PlannedToolCall("get_forecast", {"city": "Lima", "days": 2}),
]


def script(session_id: str, turn: int) -> list[PlannedToolCall]:
    return PLAN


def answer(ai: AIMessage, text: str = "sunny", status: str = "success") -> ToolMessage:
    call = ai.tool_calls[0]
    return ToolMessage(content=text, tool_call_id=call["id"], name=call["name"], status=status)  # type: ignore[arg-type]


async def play(model: Any, messages: list[BaseMessage], results: int = 99) -> list[BaseMessage]:
    """Drive the model by hand: answer each tool call until it replies in text."""
    while True:
        ai = await model.ainvoke(messages)
        messages.append(ai)
        if not ai.tool_calls:
            return messages
        messages.append(answer(ai))


async def test_it_asks_for_the_planned_tool_calls_in_order_then_answers() -> None:
    model = SimulatedChatModel(script)
    messages = await play(model, [turn_message("s1", 4)])
    asked = [m.tool_calls[0] for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [(c["name"], c["args"], c["id"]) for c in asked] == [
        ("get_current_weather", {"city": "Oslo"}, "call_4_0"),
        ("get_forecast", {"city": "Lima", "days": 2}, "call_4_1"),
    ]
    assert messages[-1].text == "Done: 2 tool call(s) answered."


async def test_it_waits_time_to_first_token_plus_output_tokens_over_tokens_per_second() -> None:
    sleeps = RecordedSleeps()
    model = SimulatedChatModel(script, ttft_s=0.5, tokens_per_s=10.0, sleep=sleeps)
    messages = await play(model, [turn_message("s1", 0)])
    replies = [m for m in messages if isinstance(m, AIMessage)]
    first_call = json.dumps([{"name": "get_current_weather", "arguments": {"city": "Oslo"}}])
    assert replies[0].usage_metadata is not None
    assert replies[0].usage_metadata["output_tokens"] == math.ceil(len(first_call) / 4)
    assert estimate_tokens("Done: 2 tool call(s) answered.") == 8
    assert len(sleeps.delays) == 3
    for reply, delay in zip(replies, sleeps.delays, strict=True):
        assert reply.usage_metadata is not None
        assert delay == pytest.approx(0.5 + reply.usage_metadata["output_tokens"] / 10.0)
    assert sleeps.delays[-1] == pytest.approx(0.5 + 8 / 10.0)


async def test_an_instant_model_never_sleeps() -> None:
    sleeps = RecordedSleeps()
    await play(SimulatedChatModel(script, sleep=sleeps), [turn_message("s1", 0)])
    assert sleeps.delays == []


async def test_it_stops_at_a_failed_tool_result_and_says_why() -> None:
    model = SimulatedChatModel(script)
    messages: list[BaseMessage] = [turn_message("s1", 0)]
    ai = await model.ainvoke(messages)
    messages += [ai, answer(ai, "injected failure", status="error")]
    final = await model.ainvoke(messages)
    assert final.tool_calls == []
    assert final.text == "I could not use get_current_weather: injected failure"


async def test_only_the_latest_turn_counts_in_a_longer_conversation() -> None:
    model = SimulatedChatModel(script)
    earlier = await play(model, [turn_message("s1", 0)])
    ai = await model.ainvoke([*earlier, turn_message("s1", 1)])
    assert ai.tool_calls[0]["id"] == "call_1_0"


async def test_two_instances_answer_the_same_conversation_identically() -> None:
    plan = ScriptedAgent(None, {"weather": "weather"}, seed=7).plan  # type: ignore[arg-type]
    first = await play(SimulatedChatModel(script_from_plan(plan, prefixed=False)), [turn_message("s3", 2)])
    second = await play(SimulatedChatModel(script_from_plan(plan, prefixed=False)), [turn_message("s3", 2)])
    assert [(m.text, getattr(m, "tool_calls", None)) for m in first] == [
        (m.text, getattr(m, "tool_calls", None)) for m in second
    ]


async def test_its_plan_is_the_scripted_agents_plan() -> None:
    planner = ScriptedAgent(None, {"weather": "weather"}, seed=7, tool_calls_per_turn=3)  # type: ignore[arg-type]
    model = SimulatedChatModel(script_from_plan(planner.plan, prefixed=False))
    messages = await play(model, [turn_message("s3", 2)])
    asked = [m.tool_calls[0] for m in messages if isinstance(m, AIMessage) and m.tool_calls]
    assert [(c["name"], c["args"]) for c in asked] == [(t, a) for _, t, a in planner.plan("s3", 2)]


async def test_bound_tools_limit_what_it_may_plan() -> None:
    async def get_current_weather(city: str) -> str:
        return "sunny"

    tool = StructuredTool.from_function(coroutine=get_current_weather, description="weather")
    bound = SimulatedChatModel(script).bind_tools([tool])
    messages: list[BaseMessage] = [turn_message("s1", 0)]
    ai = await bound.ainvoke(messages)
    assert ai.tool_calls[0]["name"] == "get_current_weather"
    with pytest.raises(ValueError, match="plans tool 'get_forecast', which is not bound"):
        await bound.ainvoke([*messages, ai, answer(ai)])


async def test_a_conversation_without_a_turn_message_is_refused() -> None:
    with pytest.raises(ValueError, match="no turn found"):
        await SimulatedChatModel(script).ainvoke([HumanMessage(content="hello")])


def test_the_sync_path_is_refused_with_a_clear_message() -> None:
    with pytest.raises(NotImplementedError, match="ainvoke"):
        SimulatedChatModel(script).invoke([turn_message("s1", 0)])


async def test_create_agent_runs_it_through_the_script_to_the_answer() -> None:
    seen: list[str] = []

    async def get_current_weather(city: str) -> str:
        seen.append(city)
        return f"{city}: sunny"

    async def get_forecast(city: str, days: int = 3) -> str:
        seen.append(f"{city}/{days}")
        return f"{city}: rain for {days} days"

    tools = [
        StructuredTool.from_function(coroutine=get_current_weather, description="current"),
        StructuredTool.from_function(coroutine=get_forecast, description="forecast"),
    ]
    agent = create_agent(SimulatedChatModel(script), tools)
    state = await agent.ainvoke({"messages": [turn_message("s1", 0)]})
    assert seen == ["Oslo", "Lima/2"]
    assert [type(m).__name__ for m in state["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert state["messages"][-1].text == "Done: 2 tool call(s) answered."

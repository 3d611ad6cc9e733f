"""The LangChain agent (create_agent + simulated model + manager tools) over a fake manager."""

from __future__ import annotations

import pytest
from langchain_core.messages import HumanMessage
from mcp.types import Tool

from harness.agent import ScriptedAgent
from harness.agents import build_langchain_agent
from harness.errors import ConfigError

from .fakes import WEATHER_TOOLS, FakeClock, FakeManager, RecordedSleeps


def plan(seed: int, session_id: str, turn: int, calls: int = 2) -> list[tuple[str, str, dict[str, object]]]:
    planner = ScriptedAgent(None, {"weather": "weather"}, seed=seed, tool_calls_per_turn=calls)  # type: ignore[arg-type]
    return planner.plan(session_id, turn)


async def test_a_turn_makes_the_planned_calls_through_the_manager_with_the_turns_ids() -> None:
    manager = FakeManager()
    agent = await build_langchain_agent(manager, {"weather": "weather"}, seed=5, tool_calls_per_turn=3)  # type: ignore[arg-type]
    result = await agent.run_turn("s7", 2, "req-1", deadline=123.0)
    assert result.outcome == "ok"
    assert result.reply == "Done: 3 tool call(s) answered."
    assert [(c.server, c.tool, c.arguments) for c in manager.calls] == plan(5, "s7", 2, calls=3)
    assert {(c.request_id, c.session_id, c.deadline) for c in manager.calls} == {("req-1", "s7", 123.0)}
    assert [(r.server, r.tool, r.outcome) for r in result.tool_calls] == [
        (s, t, "ok") for s, t, _ in plan(5, "s7", 2, calls=3)
    ]


async def test_concurrent_turns_keep_their_own_ids_and_records() -> None:
    import asyncio

    manager = FakeManager()
    agent = await build_langchain_agent(manager, {"weather": "weather"}, seed=5)  # type: ignore[arg-type]
    results = await asyncio.gather(*(agent.run_turn(f"s{i}", i, f"r{i}") for i in range(10)))
    assert all(len(r.tool_calls) == 2 for r in results)
    for i in range(10):
        mine = [(c.tool, c.arguments) for c in manager.calls if c.request_id == f"r{i}"]
        assert mine == [(t, a) for _, t, a in plan(5, f"s{i}", i)]
        assert {c.session_id for c in manager.calls if c.request_id == f"r{i}"} == {f"s{i}"}


async def test_a_tool_error_ends_the_turn_with_outcome_tool_error_after_the_model_gives_up() -> None:
    manager = FakeManager(failures={"get_current_weather": "tool_error", "get_forecast": "tool_error"})
    agent = await build_langchain_agent(manager, {"weather": "weather"}, seed=5)  # type: ignore[arg-type]
    result = await agent.run_turn("s1", 0, "r")
    assert result.outcome == "tool_error"
    assert len(manager.calls) == 1  # like the scripted agent, the turn stops at the first failed call
    assert result.reply.startswith("I could not use ")
    assert [r.error for r in result.tool_calls] == ["injected tool_error"]


async def test_a_transport_error_stops_the_agent_with_that_outcome() -> None:
    manager = FakeManager(
        failures={"get_current_weather": "transport_error", "get_forecast": "transport_error"}
    )
    agent = await build_langchain_agent(manager, {"weather": "weather"}, seed=5)  # type: ignore[arg-type]
    result = await agent.run_turn("s1", 0, "r")
    assert result.outcome == "transport_error"
    assert [r.outcome for r in result.tool_calls] == ["transport_error"]
    assert "transport_error" in result.reply


async def test_every_model_call_waits_the_simulated_llm_latency() -> None:
    sleeps = RecordedSleeps()
    agent = await build_langchain_agent(
        FakeManager(),
        {"weather": "weather"},
        seed=5,
        ttft_s=0.25,
        tokens_per_s=50.0,
        sleep=sleeps,  # type: ignore[arg-type]
    )
    await agent.run_turn("s1", 0, "r")
    assert len(sleeps.delays) == 3  # two tool calls and the answer
    assert all(d > 0.25 for d in sleeps.delays)
    assert sleeps.delays[-1] == pytest.approx(0.25 + 8 / 50.0)  # "Done: 2 tool call(s) answered."


async def test_tool_call_latency_is_measured_on_the_injected_clock() -> None:
    clock = FakeClock(3.0)
    agent = await build_langchain_agent(FakeManager(), {"weather": "weather"}, seed=5, monotonic=clock)  # type: ignore[arg-type]
    result = await agent.run_turn("s1", 0, "r")
    assert [r.latency_s for r in result.tool_calls] == [0.0, 0.0]


async def test_a_server_lacking_a_scripted_tool_is_a_config_error() -> None:
    only_current: list[Tool] = WEATHER_TOOLS[:1]
    with pytest.raises(ConfigError, match=r"does not offer \['get_forecast'\]"):
        await build_langchain_agent(
            FakeManager(tools={"weather": only_current}), {"weather": "weather"}, seed=1
        )  # type: ignore[arg-type]


def test_the_turn_message_names_the_session_and_turn() -> None:
    from harness.agents import TURN_KEY, turn_message

    message = turn_message("s1", 4)
    assert isinstance(message, HumanMessage)
    assert message.additional_kwargs[TURN_KEY] == {"session_id": "s1", "turn": 4}


TWO_WEATHERS = {"north": "weather", "south": "weather"}


async def test_a_turn_restricted_to_one_server_calls_only_its_tools() -> None:
    manager = FakeManager(tools={"north": WEATHER_TOOLS, "south": WEATHER_TOOLS})
    agent = await build_langchain_agent(manager, TWO_WEATHERS, seed=5, tool_calls_per_turn=3)  # type: ignore[arg-type]
    for turn in range(6):
        assert (await agent.run_turn("s1", turn, f"r{turn}", servers=["south"])).outcome == "ok"
    assert {c.server for c in manager.calls} == {"south"} and len(manager.calls) == 18
    manager.calls.clear()
    for turn in range(6):
        await agent.run_turn("s1", turn, f"u{turn}")
    assert {c.server for c in manager.calls} == {"north", "south"}  # unrestricted turns use both


async def test_a_restricted_turn_makes_the_same_calls_as_the_scripted_agent() -> None:
    manager = FakeManager(tools={"north": WEATHER_TOOLS, "south": WEATHER_TOOLS})
    agent = await build_langchain_agent(manager, TWO_WEATHERS, seed=5)  # type: ignore[arg-type]
    await agent.run_turn("s3", 1, "r", servers=["north"])
    planner = ScriptedAgent(None, TWO_WEATHERS, seed=5)  # type: ignore[arg-type]
    assert [(c.server, c.tool, c.arguments) for c in manager.calls] == planner.plan("s3", 1, ["north"])


async def test_a_turn_restricted_to_an_unknown_server_is_refused() -> None:
    agent = await build_langchain_agent(FakeManager(), {"weather": "weather"}, seed=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown \\['nope'\\]"):
        await agent.run_turn("s1", 0, "r", servers=["nope"])


def test_the_turn_message_carries_the_servers_a_turn_is_restricted_to() -> None:
    from harness.agents import TURN_KEY, turn_message

    assert turn_message("s1", 4, servers=["db"]).additional_kwargs[TURN_KEY] == {
        "session_id": "s1",
        "turn": 4,
        "servers": ["db"],
    }

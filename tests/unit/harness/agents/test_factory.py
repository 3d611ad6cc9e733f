"""Choosing the agent by mode, and the scenario's agent settings."""

from __future__ import annotations

import pytest

from harness.agent import ScriptedAgent
from harness.agents import LangChainAgent, ResilientAgent, build_agent
from harness.errors import ScenarioError
from harness.scenario import AgentConfig, parse_scenario

from .fakes import FakeManager

BASE = {
    "name": "x",
    "system": {"servers": {"weather": {}}},
    "load": {"users": 1, "duration_s": 1},
}


def scenario_with(system: dict[str, object]) -> dict[str, object]:
    return {**BASE, "system": {**BASE["system"], **system}}  # type: ignore[dict-item]


def test_agent_settings_default_to_an_instant_model_and_no_turn_retries() -> None:
    config = AgentConfig()
    assert (config.ttft_s, config.tokens_per_s, config.retry_attempts) == (0.0, 0.0, 0)
    assert config.llm_latency_s == 0.0


def test_a_scenario_may_choose_mode_agent_with_llm_latency() -> None:
    data = scenario_with({"mode": "agent", "agent": {"ttft_s": 0.3, "tokens_per_s": 40, "retry_attempts": 2}})
    sc = parse_scenario(data, "x.yaml")
    assert sc.system.mode == "agent"
    assert (sc.system.agent.ttft_s, sc.system.agent.tokens_per_s, sc.system.agent.retry_attempts) == (
        0.3,
        40,
        2,
    )


@pytest.mark.parametrize(
    ("system", "message"),
    [
        ({"mode": "chat"}, "system.mode"),
        ({"agent": {"tokens_per_s": -1}}, "system.agent.tokens_per_s"),
        ({"agent": {"retry_attempts": -1}}, "system.agent.retry_attempts"),
        ({"agent": {"retry_base_delay_s": 3, "retry_max_delay_s": 1}}, "retry_max_delay_s"),
    ],
)
def test_bad_agent_settings_are_named(system: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(scenario_with(system), "x.yaml")


async def test_mode_tools_wraps_the_scripted_agent() -> None:
    config = AgentConfig(retry_attempts=2, turn_timeout_s=4.0)
    agent = await build_agent("tools", FakeManager(), {"weather": "weather"}, config, seed=1)  # type: ignore[arg-type]
    assert isinstance(agent, ResilientAgent) and isinstance(agent.runner, ScriptedAgent)
    assert agent.turn_timeout_s == 4.0


async def test_mode_agent_wraps_the_langchain_agent_and_both_make_the_same_calls() -> None:
    tools_manager, agent_manager = FakeManager(), FakeManager()
    config = AgentConfig(tool_calls_per_turn=4)
    tools = await build_agent("tools", tools_manager, {"weather": "weather"}, config, seed=9)  # type: ignore[arg-type]
    agent = await build_agent("agent", agent_manager, {"weather": "weather"}, config, seed=9)  # type: ignore[arg-type]
    assert isinstance(agent.runner, LangChainAgent)
    for turn in range(3):
        a = await tools.run_turn("s1", turn, f"t{turn}")
        b = await agent.run_turn("s1", turn, f"t{turn}")
        assert (a.outcome, len(a.tool_calls)) == (b.outcome, len(b.tool_calls)) == ("ok", 4)
    key = [(c.server, c.tool, c.arguments, c.request_id, c.session_id) for c in tools_manager.calls]
    assert key == [(c.server, c.tool, c.arguments, c.request_id, c.session_id) for c in agent_manager.calls]


async def test_turn_retries_come_from_the_agent_settings() -> None:
    manager = FakeManager(
        failures={"get_current_weather": "transport_error", "get_forecast": "transport_error"}
    )
    config = AgentConfig(retry_attempts=2, retry_base_delay_s=0.0, retry_max_delay_s=0.0)
    agent = await build_agent("agent", manager, {"weather": "weather"}, config, seed=9)  # type: ignore[arg-type]
    result = await agent.run_turn("s1", 0, "r")
    assert result.outcome == "transport_error"
    assert len(result.tool_calls) == 3 and agent.tracker.recent[-1].attempts == 3

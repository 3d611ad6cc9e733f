"""The scripted agent (mode ``tools``): its plan and what it passes to the manager."""

from __future__ import annotations

from typing import Any

import pytest

from harness.agent import ScriptedAgent


class RecordingManager:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def call_tool(self, server: str, tool: str, arguments: dict[str, Any], **kwargs: Any) -> None:
        self.calls.append({"server": server, "tool": tool, "arguments": arguments, **kwargs})


async def test_a_turn_passes_its_ids_and_deadline_to_every_call() -> None:
    manager = RecordingManager()
    agent = ScriptedAgent(manager, {"weather": "weather"}, seed=1, tool_calls_per_turn=3)  # type: ignore[arg-type]
    result = await agent.run_turn("s1", 2, "req-1", deadline=123.0)
    assert result.ok and len(manager.calls) == 3
    assert all(c["request_id"] == "req-1" and c["session_id"] == "s1" for c in manager.calls)
    assert all(c["deadline"] == 123.0 for c in manager.calls)
    assert [(c["tool"], c["arguments"]) for c in manager.calls] == [
        (tool, args) for _, tool, args in agent.plan("s1", 2)
    ]


def test_the_plan_is_deterministic_per_seed_session_and_turn() -> None:
    make = lambda seed: ScriptedAgent(RecordingManager(), {"weather": "weather"}, seed=seed)  # type: ignore[arg-type]  # noqa: E731
    assert make(1).plan("s", 0) == make(1).plan("s", 0)
    assert [make(1).plan("s", t) for t in range(5)] != [make(2).plan("s", t) for t in range(5)]


THREE = {"weather": "weather", "files": "filesystem", "db": "database"}


def test_a_plan_restricted_to_some_servers_calls_only_those() -> None:
    agent = ScriptedAgent(RecordingManager(), THREE, seed=3, tool_calls_per_turn=4)  # type: ignore[arg-type]
    unrestricted = {server for t in range(20) for server, _, _ in agent.plan("s", t)}
    restricted = {server for t in range(20) for server, _, _ in agent.plan("s", t, ["files", "db"])}
    assert unrestricted == set(THREE)  # so the restriction below is what removed weather
    assert restricted == {"files", "db"}


def test_a_plan_restricted_to_all_servers_is_the_unrestricted_plan() -> None:
    agent = ScriptedAgent(RecordingManager(), THREE, seed=3)  # type: ignore[arg-type]
    assert agent.plan("s", 1, ["db", "weather", "files"]) == agent.plan("s", 1)


@pytest.mark.parametrize("servers", [["nope"], ["weather", "nope"], []])
def test_a_plan_restricted_to_an_unknown_server_or_none_is_refused(servers: list[str]) -> None:
    agent = ScriptedAgent(RecordingManager(), THREE, seed=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot restrict a turn"):
        agent.plan("s", 0, servers)


async def test_a_restricted_turn_calls_only_its_servers_through_the_manager() -> None:
    manager = RecordingManager()
    agent = ScriptedAgent(manager, THREE, seed=5, tool_calls_per_turn=6)  # type: ignore[arg-type]
    for turn in range(5):
        await agent.run_turn("s", turn, f"r{turn}", servers=["db"])
    assert {c["server"] for c in manager.calls} == {"db"} and len(manager.calls) == 30

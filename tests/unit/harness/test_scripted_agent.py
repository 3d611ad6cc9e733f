"""The scripted agent (mode ``tools``): its plan and what it passes to the manager."""

from __future__ import annotations

from typing import Any

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

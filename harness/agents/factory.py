"""Building the gateway's agent for a mode: ``tools`` (scripted calls) or ``agent`` (LangChain).

Both modes are wrapped in the same :class:`ResilientAgent`, so the gateway serves
them alike and a comparison of the two isolates the LangChain loop's cost.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Literal

from harness.agent import ScriptedAgent
from harness.agents.langchain_agent import build_langchain_agent
from harness.agents.resilient import ResilientAgent, TurnRunner
from harness.manager import ResilientMCPManager
from harness.resilience import RetryConfig
from harness.scenario import AgentConfig

__all__ = ["AgentMode", "build_agent", "resilient_agent"]

AgentMode = Literal["tools", "agent"]


def resilient_agent(runner: TurnRunner, config: AgentConfig, *, seed: int) -> ResilientAgent:
    """Wrap ``runner`` with the request timeout and turn retries of ``config``."""
    retry = RetryConfig(
        max_attempts=config.retry_attempts + 1,
        base_delay_s=config.retry_base_delay_s,
        max_delay_s=config.retry_max_delay_s,
    )
    return ResilientAgent(
        runner,
        turn_timeout_s=config.turn_timeout_s,
        retry=retry,
        rng=random.Random(f"{seed}:agent:retry"),
    )


async def build_agent(
    mode: AgentMode,
    manager: ResilientMCPManager,
    server_kinds: Mapping[str, str],
    config: AgentConfig,
    *,
    seed: int,
) -> ResilientAgent:
    """The agent for ``mode``. In mode ``agent`` the servers' tools are listed through the manager,
    so it raises :class:`~harness.errors.ToolCallError` when a server cannot be listed."""
    runner: TurnRunner
    if mode == "agent":
        runner = await build_langchain_agent(
            manager,
            server_kinds,
            seed=seed,
            tool_calls_per_turn=config.tool_calls_per_turn,
            ttft_s=config.ttft_s,
            tokens_per_s=config.tokens_per_s,
        )
    else:
        runner = ScriptedAgent(
            manager,
            dict(server_kinds),
            seed=seed,
            tool_calls_per_turn=config.tool_calls_per_turn,
            llm_latency_s=config.llm_latency_s,
        )
    return resilient_agent(runner, config, seed=seed)

"""Agents of the system under test: the LangChain agent over a simulated LLM, and ResilientAgent.

Mode ``agent`` runs ``langchain.agents.create_agent`` with a
:class:`SimulatedChatModel` (scripted tool choices, simulated latency) and
LangChain tools from langchain-mcp-adapters that execute through the
ResilientMCPManager; mode ``tools`` plays the same plan with the scripted agent.
Either is wrapped in a :class:`ResilientAgent`.
"""

from harness.agents.factory import AgentMode, build_agent, resilient_agent
from harness.agents.langchain_agent import LangChainAgent, build_langchain_agent, script_from_plan
from harness.agents.resilient import ResilientAgent, TurnRunner
from harness.agents.simulated_llm import (
    TURN_KEY,
    PlannedToolCall,
    SimulatedChatModel,
    TurnScript,
    estimate_tokens,
    turn_message,
)
from harness.agents.tools import (
    ManagerToolRouter,
    ToolManager,
    TurnContext,
    langchain_tool_name,
    load_manager_tools,
    manager_tools,
)
from harness.agents.tracking import RequestRecord, RequestTracker

__all__ = [
    "TURN_KEY",
    "AgentMode",
    "LangChainAgent",
    "ManagerToolRouter",
    "PlannedToolCall",
    "RequestRecord",
    "RequestTracker",
    "ResilientAgent",
    "SimulatedChatModel",
    "ToolManager",
    "TurnContext",
    "TurnRunner",
    "TurnScript",
    "build_agent",
    "build_langchain_agent",
    "estimate_tokens",
    "langchain_tool_name",
    "load_manager_tools",
    "manager_tools",
    "resilient_agent",
    "script_from_plan",
    "turn_message",
]

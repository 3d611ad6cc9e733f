"""A simulated chat model: scripted tool choices and a configurable LLM latency, no network.

:class:`SimulatedChatModel` is a LangChain ``BaseChatModel`` that plays one
turn's script. Each call looks at the conversation since the turn's opening
message (made by :func:`turn_message`, which tags it with the session and turn):

- fewer tool results than planned calls, and none of them failed: it asks for
  the next planned tool call (an ``AIMessage`` with one tool call, id
  ``call_<turn>_<n>``);
- otherwise: it answers in text (``Done: N tool call(s) answered.``, or why it
  stopped when the last tool result was an error, as the scripted agent stops).

Before answering it waits, with the injected ``sleep``, as long as a real model
would: ``ttft_s + output_tokens / tokens_per_s`` (``tokens_per_s`` 0 means no
per-token time). Tokens are estimated as ``ceil(characters / 4)`` of the output
(the text, or the tool call as JSON), so the same script always waits the same.
The model keeps no state between calls: two instances with the same script
answer the same conversation identically.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field

__all__ = [
    "TURN_KEY",
    "PlannedToolCall",
    "SimulatedChatModel",
    "TurnScript",
    "estimate_tokens",
    "turn_message",
]

#: Key in the opening ``HumanMessage``'s ``additional_kwargs`` naming the session and turn.
TURN_KEY = "chaosbench_turn"

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class PlannedToolCall:
    """One tool call the simulated model will ask for: the LangChain tool name and its arguments."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


#: The planned tool calls of ``(session_id, turn)``, in order. When a turn is restricted to
#: some servers, the script is called as ``script(session_id, turn, servers)``.
TurnScript = Callable[..., Sequence[PlannedToolCall]]


def turn_message(
    session_id: str, turn: int, text: str = "", servers: Sequence[str] | None = None
) -> HumanMessage:
    """The user's message that opens a turn, tagged so the simulated model finds its script
    (and, when given, the servers the turn is restricted to)."""
    content = text or f"Session {session_id}, turn {turn}: please check the weather."
    tag: dict[str, Any] = {"session_id": session_id, "turn": turn}
    if servers is not None:
        tag["servers"] = list(servers)
    return HumanMessage(content=content, additional_kwargs={TURN_KEY: tag})


def estimate_tokens(text: str) -> int:
    """A deterministic token estimate: one token per four characters, rounded up."""
    return math.ceil(len(text) / 4)


class SimulatedChatModel(BaseChatModel):
    """Chooses tool calls from a script and waits a simulated LLM latency (see the module docstring)."""

    script: TurnScript
    ttft_s: float = Field(default=0.0, ge=0)
    tokens_per_s: float = Field(default=0.0, ge=0)
    sleep: Sleep = Field(default=asyncio.sleep, exclude=True)

    def __init__(
        self,
        script: TurnScript,
        ttft_s: float = 0.0,
        tokens_per_s: float = 0.0,
        *,
        sleep: Sleep = asyncio.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(script=script, ttft_s=ttft_s, tokens_per_s=tokens_per_s, sleep=sleep, **kwargs)

    @property
    def _llm_type(self) -> str:
        return "chaosbench-simulated"

    def latency_s(self, output_tokens: int) -> float:
        """How long a real model would take to produce ``output_tokens`` tokens."""
        per_token = output_tokens / self.tokens_per_s if self.tokens_per_s > 0 else 0.0
        return self.ttft_s + per_token

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools as a real chat model does; the model then refuses to plan a tool not bound."""
        names = tuple(
            t.name if isinstance(t, BaseTool) else convert_to_openai_tool(t)["function"]["name"]
            for t in tools
        )
        return self.bind(tool_names=names, **kwargs)

    def next_message(
        self, messages: Sequence[BaseMessage], tool_names: Sequence[str] | None = None
    ) -> AIMessage:
        """The reply to ``messages`` (no waiting). Raises ``ValueError`` when no turn is found
        or the script plans a tool that is not bound."""
        session_id, turn, servers, since = _find_turn(messages)
        results = [m for m in messages[since:] if isinstance(m, ToolMessage)]
        plan = self.script(session_id, turn) if servers is None else self.script(session_id, turn, servers)
        failed = results[-1] if results and results[-1].status == "error" else None
        if failed is None and len(results) < len(plan):
            n = len(results)
            planned = plan[n]
            if tool_names is not None and planned.name not in tool_names:
                raise ValueError(
                    f"the script for session {session_id!r} turn {turn} plans tool {planned.name!r}, "
                    f"which is not bound; bound tools: {sorted(tool_names)}"
                )
            call_id = f"call_{turn}_{n}"
            args = dict(planned.args)
            return AIMessage(
                content="",
                tool_calls=[{"name": planned.name, "args": args, "id": call_id, "type": "tool_call"}],
            )
        if failed is not None:
            return AIMessage(content=f"I could not use {failed.name}: {failed.text}")
        return AIMessage(content=f"Done: {len(results)} tool call(s) answered.")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self.next_message(messages, kwargs.get("tool_names"))
        output_tokens = estimate_tokens(_output_text(message))
        delay_s = self.latency_s(output_tokens)
        if delay_s > 0:
            await self.sleep(delay_s)
        input_tokens = sum(estimate_tokens(m.text) for m in messages)
        message.usage_metadata = UsageMetadata(
            input_tokens=input_tokens, output_tokens=output_tokens, total_tokens=input_tokens + output_tokens
        )
        message.response_metadata = {"model_name": self._llm_type, "latency_s": delay_s}
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        raise NotImplementedError("SimulatedChatModel waits with an async sleep: call it with ainvoke")


def _find_turn(messages: Sequence[BaseMessage]) -> tuple[str, int, list[str] | None, int]:
    for i in range(len(messages) - 1, -1, -1):
        tag = messages[i].additional_kwargs.get(TURN_KEY) if isinstance(messages[i], HumanMessage) else None
        if isinstance(tag, dict):
            servers = tag.get("servers")
            return (
                str(tag["session_id"]),
                int(tag["turn"]),
                None if servers is None else [str(s) for s in servers],
                i + 1,
            )
    raise ValueError(
        f"no turn found in the conversation: the simulated model needs a HumanMessage with "
        f"additional_kwargs[{TURN_KEY!r}] (made by turn_message(session_id, turn))"
    )


def _output_text(message: AIMessage) -> str:
    if message.tool_calls:
        return json.dumps([{"name": c["name"], "arguments": c["args"]} for c in message.tool_calls])
    return message.text

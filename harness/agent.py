"""The scripted agent: one conversation turn as a deterministic series of tool calls.

Each turn's tool choices come from ``random.Random(f"{seed}:{session_id}:{turn}")``,
so a session replays the same calls in every run with the same seed. A simulated
LLM latency (``llm_latency_s``) is waited before each tool call, as a model
would think before choosing it. The full LangChain agent loop (mode ``agent``)
builds on the same manager path.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ToolCallError
from harness.manager import ResilientMCPManager

__all__ = ["SCRIPTS", "ScriptedAgent", "ToolCallRecord", "TurnResult"]

CITIES = ("Lisbon", "Oslo", "Nairobi", "Lima", "Osaka", "Denver", "Cairo", "Perth", "Quito", "Riga")

ArgsMaker = Callable[[random.Random], dict[str, Any]]

FILES = ("README.txt", "notes/todo.txt", "data/readings.csv")
COUNTRIES = ("FR", "NO", "PE", "JP", "KE", "AU", "CA", "EG")

#: Tool calls a scripted agent can make, per server kind (one is drawn uniformly per call,
#: so a tool listed twice is drawn twice as often). Writes go to a bounded set of paths/rows.
SCRIPTS: dict[str, list[tuple[str, ArgsMaker]]] = {
    "weather": [
        ("get_current_weather", lambda rng: {"city": rng.choice(CITIES)}),
        ("get_forecast", lambda rng: {"city": rng.choice(CITIES), "days": rng.randint(1, 5)}),
    ],
    "filesystem": [
        ("read_file", lambda rng: {"path": rng.choice(FILES)}),
        ("read_file", lambda rng: {"path": rng.choice(FILES)}),
        ("list_files", lambda rng: {"path": rng.choice([".", "notes", "data"])}),
        (
            "write_file",
            lambda rng: {
                "path": f"sessions/{rng.randrange(50)}.txt",
                "content": f"turn {rng.random():.6f}\n",
            },
        ),
    ],
    "database": [
        (
            "query",
            lambda rng: {"table": "cities", "filters": {"country": rng.choice(COUNTRIES)}, "limit": 10},
        ),
        ("query", lambda rng: {"table": "readings", "filters": {"city_id": rng.randint(1, 8)}, "limit": 20}),
        (
            "insert",
            lambda rng: {
                "table": "readings",
                "row": {
                    "city_id": rng.randint(1, 8),
                    "temperature_c": round(rng.uniform(-10.0, 35.0), 1),
                    "taken_at": "2026-11-22T00:00:00Z",
                },
            },
        ),
    ],
}


@dataclass(frozen=True)
class ToolCallRecord:
    server: str
    tool: str
    outcome: str
    latency_s: float
    error: str = ""


@dataclass
class TurnResult:
    outcome: str  # "ok" or the outcome of the tool call that failed
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    reply: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


class ScriptedAgent:
    """Plays scripted turns through a :class:`ResilientMCPManager`."""

    def __init__(
        self,
        manager: ResilientMCPManager,
        server_kinds: dict[str, str],
        *,
        seed: int,
        tool_calls_per_turn: int = 2,
        llm_latency_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        unknown = {kind for kind in server_kinds.values() if kind not in SCRIPTS}
        if unknown:
            raise ValueError(
                f"no agent script for server kind(s) {sorted(unknown)}; known: {sorted(SCRIPTS)}"
            )
        self._manager = manager
        self._servers = sorted(server_kinds.items())
        self._seed = seed
        self._calls_per_turn = tool_calls_per_turn
        self._llm_latency_s = llm_latency_s
        self._sleep = sleep
        self._mono = monotonic

    def plan(
        self, session_id: str, turn: int, servers: Sequence[str] | None = None
    ) -> list[tuple[str, str, dict[str, Any]]]:
        """The tool calls of one turn: ``(server, tool, arguments)`` in order.

        ``servers`` restricts the calls to those servers (the session type's script; default
        all). Raises ``ValueError`` naming a server this agent does not have.
        """
        choices = self._servers
        if servers is not None:
            known = dict(self._servers)
            unknown = sorted(set(servers) - known.keys())
            if unknown or not servers:
                raise ValueError(
                    f"cannot restrict a turn to server(s) {sorted(servers)}: unknown {unknown}; "
                    f"known: {sorted(known)}"
                )
            choices = [(name, kind) for name, kind in self._servers if name in servers]
        rng = random.Random(f"{self._seed}:{session_id}:{turn}")
        calls = []
        for _ in range(self._calls_per_turn):
            server, kind = rng.choice(choices)
            tool, make_args = rng.choice(SCRIPTS[kind])
            calls.append((server, tool, make_args(rng)))
        return calls

    async def run_turn(
        self,
        session_id: str,
        turn: int,
        request_id: str,
        deadline: float | None = None,
        *,
        servers: Sequence[str] | None = None,
    ) -> TurnResult:
        """Play one turn; stops at the first failed tool call, as an agent would report it.

        ``deadline`` (monotonic seconds) bounds the whole turn: retries never sleep past it.
        ``servers`` restricts its tool calls (see :meth:`plan`).
        """
        result = TurnResult(outcome="ok")
        for server, tool, args in self.plan(session_id, turn, servers):
            if self._llm_latency_s > 0:
                await self._sleep(self._llm_latency_s)
            started = self._mono()
            try:
                await self._manager.call_tool(
                    server, tool, args, request_id=request_id, session_id=session_id, deadline=deadline
                )
            except ToolCallError as exc:
                result.tool_calls.append(
                    ToolCallRecord(server, tool, exc.outcome, self._mono() - started, exc.detail)
                )
                result.outcome = exc.outcome
                result.reply = f"I could not use {tool} on {server}: {exc.outcome}"
                return result
            result.tool_calls.append(ToolCallRecord(server, tool, "ok", self._mono() - started))
        result.reply = f"Done: {len(result.tool_calls)} tool call(s) answered."
        return result

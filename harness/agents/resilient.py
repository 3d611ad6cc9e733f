"""ResilientAgent: one agent request made robust, for either mode's turn runner.

Per request: a unique request id (``uuid4().hex`` unless the caller gave one), a
per-request timeout (``turn_timeout_s``, across every attempt, and never past a
caller's deadline), retries of the whole turn with exponential backoff for the
retryable outcomes (``transport_error``, ``timeout``), decided by the same pure
:class:`~harness.resilience.RetryPlanner` as the manager's, and request tracking
(:class:`~harness.agents.tracking.RequestTracker`). Clock, sleep, the timeout
(``wait_for``) and the jitter's ``random.Random`` are injected.

The result has the shape of :meth:`ScriptedAgent.run_turn <harness.agent.ScriptedAgent.run_turn>`'s,
with the tool calls of every attempt, so the gateway serves both modes alike.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from harness.agent import TurnResult
from harness.agents.tracking import RequestRecord, RequestTracker
from harness.resilience import RetryConfig, RetryPlanner, Stop

__all__ = ["ResilientAgent", "TurnRunner", "WaitFor"]

WaitFor = Callable[[Awaitable[TurnResult], float], Awaitable[TurnResult]]


class TurnRunner(Protocol):
    """Plays one turn: :class:`~harness.agent.ScriptedAgent` or :class:`~harness.agents.LangChainAgent`."""

    async def run_turn(
        self,
        session_id: str,
        turn: int,
        request_id: str,
        deadline: float | None = None,
        *,
        servers: Sequence[str] | None = None,
    ) -> TurnResult: ...


def _new_request_id() -> str:
    return uuid.uuid4().hex


class ResilientAgent:
    """Wraps a :class:`TurnRunner` with request ids, a timeout, retries and tracking."""

    def __init__(
        self,
        runner: TurnRunner,
        *,
        turn_timeout_s: float = 30.0,
        retry: RetryConfig | None = None,
        rng: random.Random | None = None,
        tracker: RequestTracker | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wait_for: WaitFor = asyncio.wait_for,
        new_request_id: Callable[[], str] = _new_request_id,
    ) -> None:
        if not turn_timeout_s > 0:
            raise ValueError(f"turn_timeout_s must be > 0, got {turn_timeout_s}")
        self.runner = runner
        self.turn_timeout_s = turn_timeout_s
        self.tracker = tracker or RequestTracker()
        self._planner = RetryPlanner(retry or RetryConfig(max_attempts=1), rng=rng or random.Random(0))
        self._mono = monotonic
        self._wall = wall_clock
        self._sleep = sleep
        self._wait_for = wait_for
        self._new_request_id = new_request_id

    async def run_turn(
        self,
        session_id: str,
        turn: int,
        request_id: str | None = None,
        deadline: float | None = None,
        *,
        servers: Sequence[str] | None = None,
    ) -> TurnResult:
        """Play one turn, retrying it while the planner allows. ``servers`` restricts its tool
        calls to those servers (the runner raises ``ValueError`` for one it does not have).

        Returns the last attempt's result (outcome ``timeout`` when the request ran
        out of time) with every attempt's tool calls. Exceptions of the runner other
        than a timeout propagate, counted as outcome ``error``.
        """
        request_id = request_id or self._new_request_id()
        now = self._mono()
        own_deadline = now + self.turn_timeout_s
        deadline = own_deadline if deadline is None else min(deadline, own_deadline)
        t_start = self._wall()
        outcome, attempts = "error", 0
        self.tracker.start()
        try:
            state = self._planner.start(now, deadline)
            calls = []
            while True:
                attempts = state.attempt
                result = await self._attempt(session_id, turn, request_id, deadline, servers)
                calls += result.tool_calls
                outcome = result.outcome
                if result.ok:
                    break
                decision = self._planner.decide(state, result.outcome, self._mono())
                if isinstance(decision, Stop):
                    break
                await self._sleep(decision.delay_s)
            result.tool_calls = calls
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            self.tracker.finish(
                RequestRecord(request_id, session_id, turn, t_start, self._wall(), outcome, attempts)
            )

    async def _attempt(
        self, session_id: str, turn: int, request_id: str, deadline: float, servers: Sequence[str] | None
    ) -> TurnResult:
        remaining_s = deadline - self._mono()
        timed_out = TurnResult(outcome="timeout", reply=f"the turn took longer than {self.turn_timeout_s}s")
        if remaining_s <= 0:
            return timed_out
        try:
            return await self._wait_for(
                self.runner.run_turn(session_id, turn, request_id, deadline, servers=servers), remaining_s
            )
        except TimeoutError:
            return timed_out

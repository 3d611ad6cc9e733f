"""ResilientAgent: request ids, the turn timeout, turn retries with backoff, request tracking. Nothing sleeps."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Sequence
from typing import Any

import pytest

from harness.agent import ToolCallRecord, TurnResult
from harness.agents import RequestTracker, ResilientAgent
from harness.resilience import RetryConfig

from .fakes import FakeClock, RecordedSleeps


class ScriptedRunner:
    """Ends its turns with ``outcomes`` in turn (then ``ok``); records what it was given."""

    def __init__(self, outcomes: list[str] | None = None, tracker: RequestTracker | None = None) -> None:
        self.outcomes = list(outcomes or [])
        self.seen: list[tuple[str, int, str, float | None]] = []
        self.in_flight_seen: list[int] = []
        self.servers_seen: list[Sequence[str] | None] = []
        self.tracker = tracker

    async def run_turn(
        self,
        session_id: str,
        turn: int,
        request_id: str,
        deadline: float | None = None,
        *,
        servers: Sequence[str] | None = None,
    ) -> TurnResult:
        self.seen.append((session_id, turn, request_id, deadline))
        self.servers_seen.append(servers)
        if self.tracker is not None:
            self.in_flight_seen.append(self.tracker.in_flight)
        outcome = self.outcomes.pop(0) if self.outcomes else "ok"
        record = ToolCallRecord("weather", "get_forecast", outcome, 0.01)
        return TurnResult(outcome=outcome, tool_calls=[record], reply=outcome)


def agent(runner: Any, clock: FakeClock, sleeps: RecordedSleeps, **kwargs: Any) -> ResilientAgent:
    kwargs.setdefault("retry", RetryConfig(max_attempts=4, base_delay_s=0.1, multiplier=2.0, jitter="none"))
    return ResilientAgent(
        runner, monotonic=clock, wall_clock=clock, sleep=sleeps, rng=random.Random(1), **kwargs
    )


async def test_retryable_failures_are_retried_with_exponential_backoff() -> None:
    clock = FakeClock(100.0)
    sleeps = RecordedSleeps(clock)
    runner = ScriptedRunner(["transport_error", "timeout"])
    result = await agent(runner, clock, sleeps).run_turn("s1", 3, "r1")
    assert result.outcome == "ok"
    assert sleeps.delays == [pytest.approx(0.1), pytest.approx(0.2)]
    assert [c.outcome for c in result.tool_calls] == ["transport_error", "timeout", "ok"]
    assert [rid for _, _, rid, _ in runner.seen] == ["r1", "r1", "r1"]


async def test_retries_stop_after_the_configured_attempts() -> None:
    clock = FakeClock()
    sleeps = RecordedSleeps(clock)
    runner = ScriptedRunner(["transport_error"] * 10)
    retry = RetryConfig(max_attempts=3, base_delay_s=0.1, jitter="none")
    a = agent(runner, clock, sleeps, retry=retry)
    result = await a.run_turn("s1", 0, "r1")
    assert result.outcome == "transport_error"
    assert len(runner.seen) == 3 and len(sleeps.delays) == 2
    assert a.tracker.recent[-1].attempts == 3


async def test_a_tool_error_is_not_retried() -> None:
    clock = FakeClock()
    sleeps = RecordedSleeps(clock)
    runner = ScriptedRunner(["tool_error"])
    result = await agent(runner, clock, sleeps).run_turn("s1", 0, "r1")
    assert result.outcome == "tool_error"
    assert len(runner.seen) == 1 and sleeps.delays == []


async def test_without_retry_attempts_a_failure_is_final() -> None:
    clock = FakeClock()
    sleeps = RecordedSleeps(clock)
    runner = ScriptedRunner(["transport_error"])
    result = await ResilientAgent(runner, monotonic=clock, wall_clock=clock, sleep=sleeps).run_turn("s", 0)
    assert result.outcome == "transport_error"
    assert len(runner.seen) == 1 and sleeps.delays == []


async def test_a_retry_never_sleeps_past_the_turn_deadline() -> None:
    clock = FakeClock()
    sleeps = RecordedSleeps(clock)
    runner = ScriptedRunner(["timeout"] * 5)
    retry = RetryConfig(max_attempts=5, base_delay_s=2.0, max_delay_s=8.0, jitter="none")
    result = await agent(runner, clock, sleeps, retry=retry, turn_timeout_s=3.0).run_turn("s", 0, "r")
    assert result.outcome == "timeout"
    assert sleeps.delays == [2.0]  # the next backoff (4 s) would end after the 3 s deadline


async def test_the_runner_gets_the_turn_deadline_or_the_callers_if_sooner() -> None:
    clock = FakeClock(50.0)
    runner = ScriptedRunner()
    a = agent(runner, clock, RecordedSleeps(clock), turn_timeout_s=5.0)
    await a.run_turn("s", 0, "r1")
    await a.run_turn("s", 0, "r2", deadline=52.0)
    await a.run_turn("s", 0, "r3", deadline=80.0)
    assert [deadline for *_, deadline in runner.seen] == [55.0, 52.0, 55.0]


async def test_a_turn_past_its_timeout_ends_with_outcome_timeout() -> None:
    clock = FakeClock(10.0)
    timeouts: list[float] = []

    async def expire(turn: Awaitable[TurnResult], timeout_s: float) -> TurnResult:
        timeouts.append(timeout_s)
        turn.close()  # type: ignore[attr-defined]
        clock.advance(timeout_s)
        raise TimeoutError

    a = agent(ScriptedRunner(), clock, RecordedSleeps(clock), turn_timeout_s=7.5, wait_for=expire)
    result = await a.run_turn("s1", 0, "r1")
    assert result.outcome == "timeout"
    assert "7.5s" in result.reply
    assert timeouts == [7.5]  # one attempt: a timeout that used up the turn leaves nothing to retry
    assert a.tracker.totals["timeout"] == 1


async def test_a_caller_deadline_already_past_times_out_without_running() -> None:
    clock = FakeClock(10.0)
    runner = ScriptedRunner()
    result = await agent(runner, clock, RecordedSleeps(clock)).run_turn("s", 0, "r", deadline=9.0)
    assert result.outcome == "timeout" and runner.seen == []


async def test_every_request_without_an_id_gets_a_unique_one() -> None:
    clock = FakeClock()
    runner = ScriptedRunner()
    a = agent(runner, clock, RecordedSleeps(clock))
    for turn in range(20):
        await a.run_turn("s1", turn)
    await a.run_turn("s1", 0, "given")
    ids = [rid for _, _, rid, _ in runner.seen]
    assert len(set(ids[:20])) == 20
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids[:20])
    assert ids[20] == "given"
    assert [r.request_id for r in a.tracker.recent] == ids


async def test_tracking_counts_in_flight_totals_and_recent_requests() -> None:
    clock = FakeClock(1000.0)
    sleeps = RecordedSleeps(clock)
    tracker = RequestTracker(max_recent=2)
    runner = ScriptedRunner(["transport_error", "ok", "tool_error"], tracker=tracker)
    a = agent(runner, clock, sleeps, tracker=tracker)
    await a.run_turn("s1", 0, "a")  # transport_error, then ok on the retry (after 0.1 s)
    await a.run_turn("s2", 1, "b")
    await a.run_turn("s3", 2, "c")
    assert runner.in_flight_seen == [1, 1, 1, 1]
    assert tracker.in_flight == 0
    assert tracker.totals == {"ok": 2, "tool_error": 1}
    assert tracker.snapshot() == {
        "in_flight": 0,
        "started_total": 3,
        "finished_total": 3,
        "totals": {"ok": 2, "tool_error": 1},
    }
    assert [(r.request_id, r.session_id, r.turn, r.outcome) for r in tracker.recent] == [
        ("b", "s2", 1, "tool_error"),
        ("c", "s3", 2, "ok"),
    ]


async def test_a_request_that_took_time_is_recorded_with_its_start_and_end() -> None:
    clock = FakeClock(1000.0)
    sleeps = RecordedSleeps(clock)
    a = agent(ScriptedRunner(["transport_error"]), clock, sleeps)
    await a.run_turn("s1", 0, "a")
    record = a.tracker.recent[-1]
    assert (record.t_start, record.t_end, record.attempts) == (1000.0, pytest.approx(1000.1), 2)
    assert record.latency_s == pytest.approx(0.1)


async def test_a_runner_exception_propagates_and_counts_as_error() -> None:
    class Broken:
        async def run_turn(self, *args: Any, **kwargs: Any) -> TurnResult:
            raise RuntimeError("bug")

    clock = FakeClock()
    a = agent(Broken(), clock, RecordedSleeps(clock))
    with pytest.raises(RuntimeError, match="bug"):
        await a.run_turn("s", 0, "r")
    assert a.tracker.totals == {"error": 1} and a.tracker.in_flight == 0


async def test_a_cancelled_request_counts_as_cancelled() -> None:
    started = asyncio.Event()

    class Hangs:
        async def run_turn(self, *args: Any, **kwargs: Any) -> TurnResult:
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    a = ResilientAgent(Hangs())
    task = asyncio.create_task(a.run_turn("s", 0, "r"))
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert a.tracker.totals == {"cancelled": 1} and a.tracker.in_flight == 0


def test_the_turn_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="turn_timeout_s must be > 0"):
        ResilientAgent(ScriptedRunner(), turn_timeout_s=0)


def test_the_tracker_keeps_no_negative_history() -> None:
    with pytest.raises(ValueError, match="max_recent"):
        RequestTracker(max_recent=-1)


async def test_the_turns_servers_reach_the_runner_on_every_attempt() -> None:
    clock = FakeClock()
    runner = ScriptedRunner(["transport_error"])
    await agent(runner, clock, RecordedSleeps(clock)).run_turn("s", 0, "r", servers=["weather"])
    await agent(runner, clock, RecordedSleeps(clock)).run_turn("s", 1, "r2")
    assert runner.servers_seen == [["weather"], ["weather"], None]

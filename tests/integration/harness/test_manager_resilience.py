"""The manager's resilience composition against real weather servers: bulkhead, hedging, breaker policies."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
import pytest

from harness.connection import HttpTarget
from harness.errors import ToolCallError
from harness.gateway.config import manager_config_from_settings
from harness.manager import ManagerConfig, ResilientMCPManager, ServerSpec
from harness.resilience import BreakerConfig, BulkheadConfig, HedgeConfig, SlidingWindowConfig
from harness.scenario import ManagerSettings
from tests.integration.harness.conftest import HttpServer
from tests.integration.harness.test_manager import Recorder

pytestmark = pytest.mark.integration


def make(server: HttpServer, config: ManagerConfig) -> tuple[ResilientMCPManager, Recorder, Recorder]:
    calls, breaker = Recorder(), Recorder()
    manager = ResilientMCPManager(
        [ServerSpec("weather", HttpTarget(server.url))], config, calls_sink=calls, breaker_sink=breaker
    )
    return manager, calls, breaker


async def test_a_full_bulkhead_refuses_with_pool_timeout_and_does_not_count_against_the_server(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server(faults=[{"kind": "latency", "delay_s": 1.0}])
    config = ManagerConfig(
        bulkhead=BulkheadConfig(max_concurrent=1, max_queue=0, max_wait_s=0.0),
        breaker=BreakerConfig(failure_threshold=1),
    )
    manager, calls, breaker = make(server, config)
    with anyio.fail_after(30):
        await manager.start()
        results = await asyncio.gather(
            *(manager.call_tool("weather", "get_current_weather", {"city": "Oslo"}) for _ in range(3)),
            return_exceptions=True,
        )
        await manager.aclose()
    outcomes = sorted("ok" if not isinstance(r, BaseException) else r.outcome for r in results)  # type: ignore[attr-defined]
    assert outcomes == ["ok", "pool_timeout", "pool_timeout"]
    assert sorted(r["outcome"] for r in calls.rows) == outcomes
    assert breaker.rows == []  # a threshold of 1 would have opened on any counted failure


async def test_a_slow_idempotent_call_is_hedged_and_the_fast_attempt_wins(
    http_server: Callable[..., HttpServer],
) -> None:
    # Each attempt draws its own delay; with this seed at least one of the two is fast.
    server = http_server(faults=[{"kind": "latency", "delay_s": 3.0, "probability": 0.5}])
    config = ManagerConfig(
        hedge_tools=frozenset({"get_current_weather"}),
        hedge=HedgeConfig(delay_s=0.2, budget_ratio=1.0, budget_min_per_s=100.0),
        call_timeout_s=10.0,
    )
    manager, calls, _ = make(server, config)
    with anyio.fail_after(60):
        await manager.start()
        for i in range(6):
            await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"}, request_id=f"r{i}")
        await manager.aclose()
    hedges = [r for r in calls.rows if r["hedge"] == 1]
    assert manager.get_metrics()["weather"]["hedges"] == len(hedges) >= 1
    for row in hedges:
        primary = [r for r in calls.rows if r["request_id"] == row["request_id"] and r["hedge"] == 0]
        assert len(primary) == 1
        assert {primary[0]["outcome"], row["outcome"]} <= {"ok", "cancelled"}


async def test_a_disabled_breaker_never_rejects(http_server: Callable[..., HttpServer]) -> None:
    server = http_server(faults=[{"kind": "error", "probability": 1.0}])
    manager, calls, breaker = make(
        server, ManagerConfig(breaker=BreakerConfig(failure_threshold=1), breaker_enabled=False)
    )
    with anyio.fail_after(30):
        await manager.start()
        for _ in range(5):
            with pytest.raises(ToolCallError):
                await manager.call_tool("weather", "get_forecast", {"city": "Lima", "days": 1})
        await manager.aclose()
    assert [r["outcome"] for r in calls.rows] == ["tool_error"] * 5
    assert [(r["from_state"], r["to_state"]) for r in breaker.rows] == [("closed", "disabled")]


async def test_the_sliding_window_policy_opens_on_the_failure_rate(
    http_server: Callable[..., HttpServer],
) -> None:
    server = http_server(faults=[{"kind": "error", "probability": 1.0}])
    window = SlidingWindowConfig(window_size=4, minimum_number_of_calls=4, failure_rate_threshold=50.0)
    manager, calls, breaker = make(server, ManagerConfig(breaker=window))
    with anyio.fail_after(30):
        await manager.start()
        for _ in range(6):
            with pytest.raises(ToolCallError):
                await manager.call_tool("weather", "get_current_weather", {"city": "Oslo"})
        await manager.aclose()
    assert [r["outcome"] for r in calls.rows] == ["tool_error"] * 4 + ["rejected_open"] * 2
    assert [(r["from_state"], r["to_state"]) for r in breaker.rows] == [("closed", "open")]


def test_scenario_settings_map_onto_the_manager_config() -> None:
    settings = ManagerSettings.model_validate(
        {
            "call_timeout_s": 2.5,
            "breaker": {
                "policy": "sliding_window",
                "window_size": 10,
                "minimum_number_of_calls": 5,
                "failure_outcomes": ["timeout"],
                "enabled": False,
            },
            "retry": {"max_attempts": 4, "jitter": "decorrelated", "budget_ratio": 0.3},
            "bulkhead": {"max_concurrent": 7, "max_queue": 3, "max_wait_s": 0.5},
            "hedging": {"tools": ["weather.get_forecast"], "delay_s": 0.1},
        }
    )
    config = manager_config_from_settings(settings, seed=9)
    assert isinstance(config.breaker, SlidingWindowConfig)
    assert config.breaker.window_size == 10 and config.breaker.failure_outcomes == frozenset({"timeout"})
    assert config.breaker_enabled is False
    assert config.retry.max_attempts == 4 and config.retry.jitter == "decorrelated"
    assert config.retry_budget is not None and config.retry_budget.ratio == 0.3
    assert (config.bulkhead.max_concurrent, config.bulkhead.max_queue, config.bulkhead.max_wait_s) == (
        7,
        3,
        0.5,
    )
    assert config.hedge_tools == frozenset({"weather.get_forecast"}) and config.hedge.delay_s == 0.1
    assert config.call_timeout_s == 2.5 and config.seed == 9

"""The weather server: deterministic data, input validation, and faults seen through an in-memory client."""

from __future__ import annotations

import random
from typing import Any

import anyio
import httpx
import pytest
from mcp.server.fastmcp.exceptions import ToolError
from mcp.shared.memory import create_connected_server_and_client_session
from mcp.types import TextContent

from fault_servers import (
    ErrorFault,
    FaultConfigError,
    FaultInjector,
    FaultPlan,
    LatencyFault,
    build_weather_server,
)
from fault_servers.weather import CONDITIONS, MAX_FORECAST_DAYS, current_weather, forecast


class RecordingSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.calls.append(delay_s)


def injector(*faults: ErrorFault | LatencyFault, seed: int = 0) -> FaultInjector:
    return FaultInjector(FaultPlan(faults=faults, source="test"), random.Random(seed))


def text_of(result: Any) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


def test_current_weather_is_the_same_for_the_same_seed_and_city() -> None:
    assert current_weather(1, "Paris") == current_weather(1, "Paris")


def test_current_weather_ignores_case_and_outer_spaces_of_the_city() -> None:
    assert current_weather(1, " paris ")["temperature_c"] == current_weather(1, "PARIS")["temperature_c"]


def test_current_weather_differs_between_seeds_and_between_cities() -> None:
    samples = {str(current_weather(seed, city)) for seed in range(3) for city in ("Paris", "Oslo", "Lima")}

    assert len(samples) == 9


def test_current_weather_has_plausible_fields() -> None:
    weather = current_weather(0, "Paris")

    assert weather["city"] == "Paris"
    assert -10.0 <= weather["temperature_c"] <= 35.0
    assert weather["condition"] in CONDITIONS
    assert 10 <= weather["humidity_pct"] <= 100
    assert 0.0 <= weather["wind_kph"] <= 60.0


def test_a_blank_city_is_a_tool_error() -> None:
    with pytest.raises(ToolError, match="city must be a non-empty name"):
        current_weather(0, "  ")


def test_forecast_has_one_deterministic_entry_per_day() -> None:
    result = forecast(3, "Oslo", days=5)

    assert result == forecast(3, "Oslo", days=5)
    assert [entry["day"] for entry in result["forecast"]] == [1, 2, 3, 4, 5]
    assert all(entry["low_c"] < entry["high_c"] for entry in result["forecast"])


def test_a_shorter_forecast_is_a_prefix_of_a_longer_one() -> None:
    assert forecast(3, "Oslo", days=2)["forecast"] == forecast(3, "Oslo", days=7)["forecast"][:2]


@pytest.mark.parametrize("days", [0, -1, MAX_FORECAST_DAYS + 1, True])
def test_forecast_days_outside_one_to_seven_are_a_tool_error(days: int) -> None:
    with pytest.raises(ToolError, match="days must be an integer from 1 to 7"):
        forecast(0, "Oslo", days=days)


def test_a_fault_plan_naming_an_unknown_tool_is_refused() -> None:
    with pytest.raises(FaultConfigError, match=r"faults\[0\]\.tools\[0\]: unknown tool 'get_weather'"):
        build_weather_server(0, injector(ErrorFault(tools=("get_weather",))))


# No async fixture here: pytest-asyncio tears fixtures down in another task,
# which anyio's task groups (used by the in-memory session) refuse.
async def test_the_server_lists_both_weather_tools() -> None:
    async with create_connected_server_and_client_session(build_weather_server(4, None)) as client:
        with anyio.fail_after(10):
            tools = await client.list_tools()

    assert {tool.name for tool in tools.tools} == {"get_current_weather", "get_forecast"}


async def test_a_tool_call_returns_the_deterministic_data_as_structured_content() -> None:
    async with create_connected_server_and_client_session(build_weather_server(4, None)) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("get_forecast", {"city": "Lima", "days": 2})

    assert not result.isError
    assert result.structuredContent == forecast(4, "Lima", days=2)


async def test_bad_days_reach_the_client_as_an_error_result() -> None:
    async with create_connected_server_and_client_session(build_weather_server(4, None)) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("get_forecast", {"city": "Lima", "days": 8})

    assert result.isError
    assert "days must be an integer from 1 to 7, got 8" in text_of(result)


async def test_an_injected_error_reaches_the_client_as_an_error_result_with_its_message() -> None:
    server = build_weather_server(
        0, injector(ErrorFault(message="injected failure", tools=("get_forecast",)))
    )

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            failed = await session.call_tool("get_forecast", {"city": "Lima"})
            untouched = await session.call_tool("get_current_weather", {"city": "Lima"})

    assert failed.isError
    assert text_of(failed) == "Error executing tool get_forecast: injected failure"
    assert not untouched.isError


async def test_an_injected_delay_is_served_through_the_injected_sleep_before_the_tool_runs() -> None:
    sleep = RecordingSleep()
    server = build_weather_server(0, injector(LatencyFault(min_s=0.3, max_s=0.3)), sleep=sleep)

    async with create_connected_server_and_client_session(server) as session:
        with anyio.fail_after(10):
            result = await session.call_tool("get_current_weather", {"city": "Lima"})

    assert not result.isError
    assert sleep.calls == [0.3]


async def test_the_health_route_answers_ok() -> None:
    app = build_weather_server(0, None).streamable_http_app()
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        with anyio.fail_after(10):
            response = await http.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "server": "weather"}

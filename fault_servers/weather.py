"""The reference weather MCP server: deterministic fake data behind a fault layer.

Tools:

- ``get_current_weather(city)``: temperature_c, condition, humidity_pct,
  wind_kph for `city`, drawn from ``random.Random(f"{seed}:{city}")`` with the
  city stripped and lower-cased, so the same seed and city always give the
  same answer in any process.
- ``get_forecast(city, days=3)``: one entry per day (1..7), each drawn from
  seed, city and day.

Each tool first asks the injector (if any) for a decision about its own name
and applies it, so faults land before the tool does any work. That serves
in-process use; ``python -m fault_servers serve`` builds the server with no
injector and wraps it whole in the fault layer (`fault_servers.serve`), which
carries out every fault kind. Over HTTP the
MCP endpoint is ``/mcp`` and ``GET /healthz`` answers 200 when the server is up.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any, Final

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from fault_servers.faults import FaultInjector, Sleep, apply_decision

SERVER_NAME: Final = "weather"
TOOL_NAMES: Final = frozenset({"get_current_weather", "get_forecast"})
CONDITIONS: Final = ("sunny", "partly cloudy", "cloudy", "rain", "showers", "thunderstorm", "snow", "fog")
MAX_FORECAST_DAYS: Final = 7


def _normalise_city(city: str) -> str:
    name = city.strip()
    if not name:
        raise ToolError("city must be a non-empty name, e.g. 'Paris'")
    return name


def current_weather(seed: int, city: str) -> dict[str, Any]:
    """Today's weather for `city`, a pure function of seed and city (case and outer spaces ignored).

    Raises ToolError when `city` is empty or blank.
    """
    name = _normalise_city(city)
    rng = random.Random(f"{seed}:{name.lower()}")
    return {
        "city": name,
        "temperature_c": round(rng.uniform(-10.0, 35.0), 1),
        "condition": rng.choice(CONDITIONS),
        "humidity_pct": rng.randint(10, 100),
        "wind_kph": round(rng.uniform(0.0, 60.0), 1),
    }


def forecast(seed: int, city: str, days: int = 3) -> dict[str, Any]:
    """A `days`-day forecast for `city`; each day is a pure function of seed, city and day number.

    Raises ToolError when `city` is blank or `days` is not in 1..MAX_FORECAST_DAYS.
    """
    name = _normalise_city(city)
    if isinstance(days, bool) or not 1 <= days <= MAX_FORECAST_DAYS:
        raise ToolError(f"days must be an integer from 1 to {MAX_FORECAST_DAYS}, got {days!r}")
    entries: list[dict[str, Any]] = []
    for day in range(1, days + 1):
        rng = random.Random(f"{seed}:{name.lower()}:{day}")
        low_c = round(rng.uniform(-15.0, 25.0), 1)
        entries.append(
            {
                "day": day,
                "condition": rng.choice(CONDITIONS),
                "low_c": low_c,
                "high_c": round(low_c + rng.uniform(2.0, 12.0), 1),
                "precipitation_pct": rng.randint(0, 100),
            }
        )
    return {"city": name, "days": days, "forecast": entries}


def build_weather_server(
    seed: int,
    injector: FaultInjector | None,
    host: str = "127.0.0.1",
    port: int = 0,
    json_response: bool = True,
    *,
    sleep: Sleep = asyncio.sleep,
) -> FastMCP:
    """Build (but do not start) the weather server.

    `host`/`port` are only used when the caller runs the server over HTTP.
    `sleep` serves injected delays (tests pass a recorder).
    Raises FaultConfigError when the injector's plan names a tool this server
    does not have.
    """
    if injector is not None:
        injector.plan.check_tool_names(TOOL_NAMES)
    # log_level WARNING: at INFO FastMCP logs a line for every request.
    mcp = FastMCP(SERVER_NAME, host=host, port=port, json_response=json_response, log_level="WARNING")

    async def inject(tool: str) -> None:
        if injector is not None:
            await apply_decision(injector.decide(tool), sleep=sleep)

    @mcp.tool()
    async def get_current_weather(city: str) -> dict[str, Any]:
        """Current weather for a city: temperature (C), condition, humidity (%) and wind (km/h)."""
        await inject("get_current_weather")
        return current_weather(seed, city)

    @mcp.tool()
    async def get_forecast(city: str, days: int = 3) -> dict[str, Any]:
        """Daily forecast for a city for 1 to 7 days: condition, low/high (C), chance of rain (%)."""
        await inject("get_forecast")
        return forecast(seed, city, days)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "server": SERVER_NAME})

    mcp.custom_route("/healthz", methods=["GET"])(healthz)
    return mcp

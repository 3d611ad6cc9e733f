"""The seeds' environment variables, read in one place and turned into scenario overrides.

Precedence, lowest first: built-in defaults < the scenario file < these variables <
``--set``. A variable that names a server the scenario does not have is ignored (and
reported), so one environment can serve several scenarios.

| variable | scenario key |
|---|---|
| ``WEATHER_SERVER_TIMEOUT`` / ``FS_SERVER_TIMEOUT`` / ``DB_SERVER_TIMEOUT`` | ``system.servers.<weather/filesystem/database>.timeout_s`` |
| ``WEATHER_SERVER_RETRIES`` / ``FS_SERVER_RETRIES`` / ``DB_SERVER_RETRIES`` | ``system.servers.<...>.retries`` |
| ``CONNECTION_POOL_SIZE`` | ``system.manager.pool.size`` |
| ``REQUEST_TIMEOUT`` | ``system.manager.call_timeout_s`` |
| ``CIRCUIT_BREAKER`` (``true``/``false``, ``on``/``off``, ``1``/``0``) | ``system.manager.breaker.enabled`` |
| ``AGENT_TIMEOUT`` | ``system.agent.turn_timeout_s`` |
| ``AGENT_RETRY_ATTEMPTS`` | ``system.agent.retry_attempts`` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ScenarioError

__all__ = ["ENV_KEYS", "EnvOverrides", "env_overrides"]

_SERVER_PREFIXES = {"WEATHER": "weather", "FS": "filesystem", "DB": "database"}

#: variable -> (scenario key path, parser name)
ENV_KEYS: dict[str, tuple[str, str]] = {
    **{
        f"{p}_SERVER_TIMEOUT": (f"system.servers.{s}.timeout_s", "float") for p, s in _SERVER_PREFIXES.items()
    },
    **{f"{p}_SERVER_RETRIES": (f"system.servers.{s}.retries", "int") for p, s in _SERVER_PREFIXES.items()},
    "CONNECTION_POOL_SIZE": ("system.manager.pool.size", "int"),
    "REQUEST_TIMEOUT": ("system.manager.call_timeout_s", "float"),
    "CIRCUIT_BREAKER": ("system.manager.breaker.enabled", "bool"),
    "AGENT_TIMEOUT": ("system.agent.turn_timeout_s", "float"),
    "AGENT_RETRY_ATTEMPTS": ("system.agent.retry_attempts", "int"),
}

_TRUE = {"1", "true", "yes", "on", "enabled"}
_FALSE = {"0", "false", "no", "off", "disabled"}


@dataclass(frozen=True)
class EnvOverrides:
    """``--set``-style overrides from the environment, and what was applied or ignored."""

    overrides: list[str] = field(default_factory=list)
    applied: dict[str, str] = field(default_factory=dict)
    ignored: dict[str, str] = field(default_factory=dict)


def _parse(name: str, raw: str, kind: str) -> str:
    text = raw.strip()
    try:
        if kind == "float":
            value = float(text)
            if value <= 0:
                raise ValueError
            return repr(value)
        if kind == "int":
            number = int(text)
            if number < 0:
                raise ValueError
            return str(number)
    except ValueError:
        expected = "a positive number of seconds" if kind == "float" else "a whole number >= 0"
        raise ScenarioError(f"environment variable {name}={raw!r}: expected {expected}") from None
    lowered = text.lower()
    if lowered in _TRUE:
        return "true"
    if lowered in _FALSE:
        return "false"
    raise ScenarioError(f"environment variable {name}={raw!r}: expected true/false, on/off or 1/0")


def env_overrides(environ: Mapping[str, str], scenario: Mapping[str, Any]) -> EnvOverrides:
    """Overrides for ``scenario`` (the parsed YAML) from the seeds' variables in ``environ``.

    Raises :class:`ScenarioError` naming the variable when its value cannot be parsed.
    """
    servers = scenario.get("system", {}).get("servers", {}) if isinstance(scenario, Mapping) else {}
    result = EnvOverrides()
    for name, (key, kind) in ENV_KEYS.items():
        raw = environ.get(name)
        if raw is None or raw.strip() == "":
            continue
        value = _parse(name, raw, kind)
        parts = key.split(".")
        if parts[:2] == ["system", "servers"] and (
            not isinstance(servers, Mapping) or parts[2] not in servers
        ):
            result.ignored[name] = f"the scenario has no server {parts[2]!r}"
            continue
        result.overrides.append(f"{key}={value}")
        result.applied[name] = key
    return result

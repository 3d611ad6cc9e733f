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
| ``RATE_LIMITING`` (``true``/``false``, ...) | ``system.rate_limit.enabled`` |
| ``CACHE_ENABLED`` (``true``/``false``, ...) | ``system.cache.enabled`` |

The gateway process also reads, at start (:func:`gateway_environment`), values that
must never be written into a scenario or a run directory (secrets) or that belong
to the process, not the scenario:

| variable | what |
|---|---|
| ``CHAOSBENCH_JWT_SECRET`` / ``CHAOSBENCH_JWT_SECRET_FILE`` | HS256 shared secret (kid ``hs256``), or a file holding it |
| ``CHAOSBENCH_JWT_PUBLIC_KEY_FILE`` | RS256 public key, PEM (kid ``rs256``) |
| ``CHAOSBENCH_JWT_PRIVATE_KEY_FILE`` | RS256 private key, PEM (kid ``rs256``; signs, for minting) |
| ``REDIS_URL`` | the response cache's Redis (wins over ``cache.redis_url``) |
| ``CHAOSBENCH_ENVIRONMENT`` (else ``ENVIRONMENT``) | the ``environment`` field of JSON logs (default ``local``) |
| ``LOG_FORMAT`` (``json``/``text``), ``LOG_LEVEL`` | the gateway's logs (default text, ``WARNING``) |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import ScenarioError

__all__ = ["ENV_KEYS", "EnvOverrides", "GatewayEnvironment", "env_overrides", "gateway_environment"]

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
    "RATE_LIMITING": ("system.rate_limit.enabled", "bool"),
    "CACHE_ENABLED": ("system.cache.enabled", "bool"),
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


@dataclass(frozen=True)
class GatewayEnvironment:
    """What the gateway process takes from its environment besides scenario overrides (see above).

    The secret is kept out of ``repr`` so that it never reaches a log or a traceback.
    """

    jwt_secret: str | None = field(default=None, repr=False)
    jwt_secret_file: str | None = None
    jwt_public_key_file: str | None = None
    jwt_private_key_file: str | None = None
    redis_url: str | None = field(default=None, repr=False)
    environment: str = "local"
    log_format: str = "text"
    log_level: str = "WARNING"


def gateway_environment(environ: Mapping[str, str]) -> GatewayEnvironment:
    """Read the gateway's process settings from ``environ``. Raises :class:`ScenarioError` for a bad value."""

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    log_format = (get("LOG_FORMAT") or "text").lower()
    if log_format not in ("text", "json"):
        raise ScenarioError(f"environment variable LOG_FORMAT={log_format!r}: expected json or text")
    log_level = (get("LOG_LEVEL") or "WARNING").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ScenarioError(
            f"environment variable LOG_LEVEL={log_level!r}: expected DEBUG, INFO, WARNING, ERROR or CRITICAL"
        )
    return GatewayEnvironment(
        # A secret is used as given (only an empty value counts as unset).
        jwt_secret=environ.get("CHAOSBENCH_JWT_SECRET") or None,
        jwt_secret_file=get("CHAOSBENCH_JWT_SECRET_FILE"),
        jwt_public_key_file=get("CHAOSBENCH_JWT_PUBLIC_KEY_FILE"),
        jwt_private_key_file=get("CHAOSBENCH_JWT_PRIVATE_KEY_FILE"),
        redis_url=get("REDIS_URL"),
        environment=get("CHAOSBENCH_ENVIRONMENT") or get("ENVIRONMENT") or "local",
        log_format=log_format,
        log_level=log_level,
    )

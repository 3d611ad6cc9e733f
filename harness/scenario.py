"""The scenario file: schema (version 1), loading, ``--set`` overrides and errors.

A scenario says what is under test, the load, and the SLAs (see
docs/architecture.md for the format). Everything is validated before anything
starts; a :class:`~harness.errors.ScenarioError` names the file, the key path and
what was expected.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fault_servers import FaultConfigError, parse_faults
from harness.auth.settings import AuthSettings, CacheSettings, RateLimitSettings
from harness.envconfig import env_overrides
from harness.errors import ScenarioError
from harness.scenario_load import (
    CapacitySearch,
    IntRange,
    LoadConfig,
    OpenModel,
    SessionType,
    Stage,
    ThinkTime,
)
from harness.scenario_slas import (
    SLA_KINDS,
    AvailabilitySla,
    BreakerWithinSla,
    ErrorRateSla,
    LatencySla,
    RejectionsSla,
    RssGrowthSla,
    SessionsHeldSla,
    Sla,
    sla_session_types,
)

__all__ = [
    "AgentConfig",
    "AvailabilitySla",
    "BreakerSettings",
    "BreakerWithinSla",
    "BulkheadSettings",
    "CapacitySearch",
    "ErrorRateSla",
    "HedgingSettings",
    "IntRange",
    "LatencySla",
    "LoadConfig",
    "ManagerSettings",
    "OpenModel",
    "PoolSettings",
    "RejectionsSla",
    "RetrySettings",
    "RssGrowthSla",
    "Scenario",
    "ServerConfig",
    "ServerTuning",
    "SessionType",
    "SessionsHeldSla",
    "Sla",
    "Stage",
    "SystemConfig",
    "ThinkTime",
    "TimelineEntry",
    "apply_overrides",
    "apply_profile",
    "check_faults",
    "check_session_servers",
    "check_sla_session_types",
    "load_scenario",
    "non_loopback_targets",
    "parse_scenario",
    "read_scenario_data",
    "validate_profiles",
]

KNOWN_SERVER_KINDS = ("weather", "filesystem", "database")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimelineEntry(_Model):
    """One fault window of the scenario's timeline: ``fault`` on ``target`` from ``at_s`` for ``for_s``.

    Offsets count from the start of the load. ``fault`` is any fault of the fault model
    (``fault_servers``; see the README's "Fault kinds"), validated there.
    """

    at_s: float = Field(ge=0)
    for_s: float | None = Field(default=None, gt=0)
    target: str
    fault: dict[str, Any]


FailureOutcome = Literal["tool_error", "transport_error", "timeout"]
ALL_FAILURE_OUTCOMES: tuple[FailureOutcome, ...] = ("tool_error", "transport_error", "timeout")


class BreakerSettings(_Model):
    """Breaker per server. ``policy`` picks the trip rule; see docs/resilience.md."""

    enabled: bool = True
    policy: Literal["consecutive", "sliding_window"] = "consecutive"
    failure_outcomes: list[FailureOutcome] = Field(
        default_factory=lambda: list(ALL_FAILURE_OUTCOMES), min_length=1
    )
    recovery_timeout_s: float = Field(default=10.0, ge=0)
    half_open_max_calls: int = Field(default=1, ge=1)
    # consecutive policy
    failure_threshold: int = Field(default=5, ge=1)
    success_threshold: int = Field(default=1, ge=1)
    # sliding_window policy (resilience4j's names; rates in percent)
    window_type: Literal["count", "time"] = "count"
    window_size: int = Field(default=50, ge=1)
    minimum_number_of_calls: int = Field(default=20, ge=1)
    failure_rate_threshold: float = Field(default=50.0, gt=0, le=100)
    slow_call_duration_s: float = Field(default=60.0, gt=0)
    slow_call_rate_threshold: float = Field(default=100.0, gt=0, le=100)
    permitted_number_of_calls_in_half_open: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _window_fits(self) -> BreakerSettings:
        if (
            self.policy == "sliding_window"
            and self.window_type == "count"
            and self.minimum_number_of_calls > self.window_size
        ):
            raise ValueError(
                f"minimum_number_of_calls ({self.minimum_number_of_calls}) must be <= window_size "
                f"({self.window_size}) for a count window, or the breaker could never open"
            )
        return self


class RetrySettings(_Model):
    """Retries of retryable outcomes (transport errors, timeouts), capped by a budget."""

    max_attempts: int = Field(default=1, ge=1, le=10)
    base_delay_s: float = Field(default=0.05, ge=0)
    max_delay_s: float = Field(default=2.0, ge=0)
    multiplier: float = Field(default=2.0, ge=1)
    jitter: Literal["full", "decorrelated", "none"] = "full"
    honour_retry_after: bool = True
    budget_ratio: float = Field(default=0.2, ge=0)
    budget_min_per_s: float = Field(default=10.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> RetrySettings:
        if self.max_delay_s < self.base_delay_s:
            raise ValueError(
                f"max_delay_s ({self.max_delay_s}) must be >= base_delay_s ({self.base_delay_s})"
            )
        return self


class BulkheadSettings(_Model):
    """At most ``max_concurrent`` calls per server; others wait up to ``max_wait_s`` (then ``pool_timeout``)."""

    max_concurrent: int = Field(default=64, ge=1)
    max_queue: int = Field(default=1000, ge=0)
    max_wait_s: float = Field(default=5.0, ge=0)


class HedgingSettings(_Model):
    """Hedged requests for idempotent tools, named ``tool`` or ``server.tool``."""

    tools: list[str] = Field(default_factory=list)
    delay_s: float | None = Field(default=None, gt=0)
    quantile: float = Field(default=0.95, gt=0, lt=1)
    min_samples: int = Field(default=20, ge=1)
    budget_ratio: float = Field(default=0.1, ge=0, le=1)


class PoolSettings(_Model):
    """Sessions per server (stdio: server processes) and how calls share them."""

    size: int = Field(default=1, ge=1, le=64)
    max_in_flight_per_session: int = Field(default=64, ge=1)
    acquire_timeout_s: float = Field(default=5.0, ge=0)
    max_waiters: int = Field(default=1000, ge=0)
    failures_before_evict: int = Field(default=3, ge=1)
    health_interval_s: float = Field(default=5.0, ge=0)


class ManagerSettings(_Model):
    call_timeout_s: float = Field(default=5.0, gt=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    pool: PoolSettings = Field(default_factory=PoolSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    bulkhead: BulkheadSettings = Field(default_factory=BulkheadSettings)
    hedging: HedgingSettings = Field(default_factory=HedgingSettings)


class ServerTuning(_Model):
    """Per-server settings that override the manager's (the seeds' ``WEATHER_SERVER_TIMEOUT`` etc.).

    When ``timeout_s`` or ``retries`` is given and ``breaker`` is not, the server's breaker is
    derived as the seeds derive it: ``failure_threshold = retries + 2`` and
    ``recovery_timeout_s = 2 × timeout_s`` (see :func:`harness.gateway.config.server_manager_config`).
    """

    timeout_s: float | None = Field(default=None, gt=0)
    retries: int | None = Field(default=None, ge=0, le=9)
    pool_size: int | None = Field(default=None, ge=1, le=64)
    breaker: BreakerSettings | None = None


class ServerConfig(ServerTuning):
    """One MCP server under test: a reference fault server chaosbench starts (``kind``, default the
    name), or one already running at ``url`` (streamable HTTP; no faults, chaosbench does not own it)."""

    kind: str | None = None
    url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+(/\S*)?$")
    faults: list[dict[str, Any]] = Field(default_factory=list)  # static faults, validated by fault_servers


class AgentConfig(_Model):
    """The agent of either mode: its plan, simulated LLM latency, request timeout and turn retries."""

    tool_calls_per_turn: int = Field(default=2, ge=1, le=20)
    llm_latency_s: float = Field(default=0.0, ge=0)  # mode tools: waited before each tool call
    ttft_s: float = Field(default=0.0, ge=0)  # mode agent: time to first token of every model call
    tokens_per_s: float = Field(default=0.0, ge=0)  # mode agent: output speed; 0 means instant
    turn_timeout_s: float = Field(default=30.0, gt=0)
    retry_attempts: int = Field(default=0, ge=0, le=10)  # retries of a whole turn (transport error, timeout)
    retry_base_delay_s: float = Field(default=0.1, ge=0)
    retry_max_delay_s: float = Field(default=2.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> AgentConfig:
        if self.retry_max_delay_s < self.retry_base_delay_s:
            raise ValueError(
                f"retry_max_delay_s ({self.retry_max_delay_s}) must be >= retry_base_delay_s ({self.retry_base_delay_s})"
            )
        return self


class SystemConfig(_Model):
    mode: Literal["tools", "agent"] = "tools"
    transport: Literal["http", "stdio"] = "http"
    servers: dict[str, ServerConfig] = Field(min_length=1)
    manager: ManagerSettings = Field(default_factory=ManagerSettings)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    # The gateway's protections (harness/auth/settings.py), all off by default.
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)

    @model_validator(mode="after")
    def _known_kinds(self) -> SystemConfig:
        for name, server in self.servers.items():
            if server.url is not None:
                if self.transport != "http":
                    raise ValueError(f"server {name!r} has a url, which needs transport http")
                if server.faults:
                    raise ValueError(
                        f"server {name!r} has a url and faults: chaosbench injects faults only into servers "
                        "it starts (wrap yours with `chaosbench proxy --http-upstream URL`)"
                    )
                if server.kind is None:
                    continue
            kind = server.kind or name
            if kind not in KNOWN_SERVER_KINDS:
                raise ValueError(
                    f"server {name!r} has unknown kind {kind!r}; expected one of {', '.join(KNOWN_SERVER_KINDS)}"
                )
        return self


class Scenario(_Model):
    version: Literal[1] = 1
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=80)
    description: str = ""
    seed: int = 0
    system: SystemConfig
    load: LoadConfig
    faults: list[TimelineEntry] = Field(default_factory=list)
    slas: list[Sla] = Field(default_factory=list)
    # Named tunings of one scenario: each maps key paths to values, applied like --set by --profile.
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    profile: str | None = None  # the profile this scenario was resolved with (set by --profile)

    def fault_file(self, server: str) -> dict[str, Any]:
        """The fault file for one server: its static faults and its timeline windows."""
        timeline = [
            {"at_s": e.at_s, "fault": e.fault} | ({"for_s": e.for_s} if e.for_s is not None else {})
            for e in self.faults
            if e.target == server
        ]
        return {"faults": list(self.system.servers[server].faults), "timeline": timeline}

    def resolved(self) -> dict[str, Any]:
        """The scenario as played, defaults filled (what goes to ``scenario.yaml``)."""
        return self.model_dump(mode="json")


def _format_loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in SLA_KINDS and path.endswith("]"):
            continue  # pydantic adds the discriminator tag to the location; the user never wrote it
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def parse_scenario(data: Any, source: str) -> Scenario:
    """Validate already-parsed YAML data. Raises :class:`ScenarioError`."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key"
            lines.append(f"{source}: {_format_loc(tuple(err['loc']))}: {msg}")
        raise ScenarioError("\n".join(lines)) from None
    problems = check_faults(scenario) + check_session_servers(scenario) + check_sla_session_types(scenario)
    if problems:
        raise ScenarioError("\n".join(f"{source}: {p}" for p in problems))
    return scenario


def check_faults(scenario: Scenario) -> list[str]:
    """Validate every fault with the fault servers' own model; ``key.path: problem`` lines."""
    problems: list[str] = []
    servers = scenario.system.servers
    stdio = scenario.system.transport == "stdio"
    for name, server in servers.items():
        prefix = f"system.servers.{name}."
        try:
            plan = parse_faults({"faults": server.faults}, prefix)
        except FaultConfigError as exc:
            problems.append(f"{prefix}{exc.key_path}: {exc.problem}")
            continue
        if stdio and plan.http_only_kinds:
            kinds = ", ".join(sorted(plan.http_only_kinds))
            problems.append(f"{prefix}faults: {kinds} needs transport http (this scenario uses stdio)")
    for j, entry in enumerate(scenario.faults):
        where = f"faults[{j}]"
        if entry.target not in servers:
            problems.append(
                f"{where}.target: unknown server {entry.target!r}; expected one of {', '.join(servers)}"
            )
            continue
        if servers[entry.target].url is not None:
            problems.append(
                f"{where}.target: server {entry.target!r} is not started by chaosbench (it has a url), "
                "so no fault can be played against it"
            )
            continue
        window = {"at_s": entry.at_s, "fault": entry.fault} | ({"for_s": entry.for_s} if entry.for_s else {})
        try:
            plan = parse_faults({"timeline": [window]}, where)
        except FaultConfigError as exc:
            problems.append(f"{where}{exc.key_path.removeprefix('timeline[0]')}: {exc.problem}")
            continue
        if stdio and plan.http_only_kinds:
            problems.append(
                f"{where}.fault.kind: {entry.fault.get('kind')} needs transport http (this scenario uses stdio)"
            )
    return problems


def check_session_servers(scenario: Scenario) -> list[str]:
    """Every session type's ``servers`` must name servers of the system; ``key.path: problem`` lines."""
    servers = scenario.system.servers
    return [
        f"load.sessions[{i}].servers: unknown server {name!r}; expected one of {', '.join(servers)}"
        for i, session in enumerate(scenario.load.sessions)
        for name in session.servers or []
        if name not in servers
    ]


def check_sla_session_types(scenario: Scenario) -> list[str]:
    """Every SLA's ``session_type`` must name session types of ``load.sessions``; ``key.path: problem`` lines."""
    known = [s.name for s in scenario.load.sessions]
    return [
        f"slas[{i}].session_type: unknown session type {name!r}; expected one of {', '.join(known)}"
        for i, sla in enumerate(scenario.slas)
        for name in sla_session_types(sla)
        if name not in known
    ]


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str) -> dict[str, Any]:
    """Apply ``key.path=value`` overrides (value parsed as YAML) to a copy of ``data``."""
    import copy

    result = copy.deepcopy(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ScenarioError(f"--set {item!r}: expected KEY.PATH=VALUE")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise ScenarioError(f"--set {key}: value is not valid YAML: {exc}") from None
        node: Any = result
        parts = key.split(".")
        for i, part in enumerate(parts[:-1]):
            if isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
                continue
            if not isinstance(node, dict):
                raise ScenarioError(f"{source}: --set {key}: {'.'.join(parts[: i + 1])} is not a mapping")
            node = node.setdefault(part, {})
        last = parts[-1]
        if isinstance(node, list) and last.isdigit() and int(last) < len(node):
            node[int(last)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise ScenarioError(f"{source}: --set {key}: {'.'.join(parts[:-1])} is not a mapping")
    return result


def apply_profile(data: dict[str, Any], profile: str, source: str) -> dict[str, Any]:
    """Apply the scenario's named profile (``profiles.NAME``: key paths → values) to a copy of ``data``."""
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict) or profile not in profiles:
        known = ", ".join(profiles) if isinstance(profiles, dict) and profiles else "none"
        raise ScenarioError(f"{source}: --profile {profile}: no such profile; this scenario has: {known}")
    values = profiles[profile]
    if not isinstance(values, dict):
        raise ScenarioError(
            f"{source}: profiles.{profile}: expected a mapping of key paths to values, got {type(values).__name__}"
        )
    items = []
    for key, value in values.items():
        if str(key).split(".")[0] in ("profiles", "profile"):
            raise ScenarioError(f"{source}: profiles.{profile}.{key}: a profile cannot change profiles")
        items.append(
            f"{key}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
        )
    result = apply_overrides(data, items, f"{source} (profile {profile})")
    result["profile"] = profile
    return result


def read_scenario_data(path: Path) -> dict[str, Any]:
    """Read a scenario file's YAML mapping. Raises :class:`ScenarioError` naming the file."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{source}: no such scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(f"{source}: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if data is None:
        raise ScenarioError(f"{source}: the file is empty; expected a scenario mapping")
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def load_scenario(
    path: Path,
    overrides: list[str] | None = None,
    environ: Mapping[str, str] | None = None,
    profile: str | None = None,
) -> Scenario:
    """Read, override and validate a scenario file. Raises :class:`ScenarioError`.

    Precedence, lowest first: the file, the seeds' environment variables from ``environ``
    (default: none; ``harness.envconfig``), the named ``profile``, then ``overrides`` (``--set``).
    """
    source = str(path)
    data = read_scenario_data(path)
    if environ is not None:
        data = apply_overrides(data, env_overrides(environ, data).overrides, f"{source} (environment)")
    if profile is not None:
        data = apply_profile(data, profile, source)
    if overrides:
        data = apply_overrides(data, overrides, source)
    return parse_scenario(data, f"{source} (profile {profile})" if profile is not None else source)


def validate_profiles(path: Path, environ: Mapping[str, str] | None = None) -> dict[str, Scenario]:
    """Load the scenario once per profile it defines (each must be valid). Raises :class:`ScenarioError`."""
    data = read_scenario_data(path)
    profiles = data.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ScenarioError(f"{path}: profiles: expected a mapping of profile names to key paths")
    return {name: load_scenario(path, None, environ, str(name)) for name in profiles}


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")


def non_loopback_targets(scenario: Scenario) -> list[str]:
    """``system.servers.NAME.url: host`` for every target outside 127.0.0.0/8 and ::1."""
    import ipaddress
    from urllib.parse import urlsplit

    found = []
    for name, server in scenario.system.servers.items():
        if server.url is None:
            continue
        host = urlsplit(server.url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host.lower() in LOOPBACK_HOSTS
        if not loopback:
            found.append(f"system.servers.{name}.url: {host}")
    return found

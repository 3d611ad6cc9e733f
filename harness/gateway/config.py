"""Gateway configuration: which servers, how the manager and agent behave, where events go.

The orchestrator writes one of these as JSON for every run (``runtime/gateway.json``);
``chaosbench gateway --config FILE`` reads the same format (JSON or YAML).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.auth.settings import AuthSettings, CacheSettings, RateLimitSettings
from harness.connection import HttpTarget, StdioTarget
from harness.errors import ConfigError
from harness.manager import ManagerConfig
from harness.pool import PoolConfig
from harness.resilience import (
    BreakerConfig,
    BudgetConfig,
    BulkheadConfig,
    HedgeConfig,
    RetryConfig,
    SlidingWindowConfig,
)
from harness.scenario import AgentConfig, BreakerSettings, ManagerSettings, ServerTuning

__all__ = [
    "GatewayConfig",
    "GatewayServer",
    "load_gateway_config",
    "manager_config_from_settings",
    "server_manager_config",
]


class GatewayServer(ServerTuning):
    """One server as the gateway reaches it, with its own tuning (see :class:`ServerTuning`)."""

    kind: str
    transport: Literal["http", "stdio"]
    url: str | None = None
    command: list[str] | None = None

    @model_validator(mode="after")
    def _target_given(self) -> GatewayServer:
        if self.transport == "http" and not self.url:
            raise ValueError("an http server needs url")
        if self.transport == "stdio" and not self.command:
            raise ValueError("a stdio server needs command (a list: program and arguments)")
        return self

    def target(self) -> HttpTarget | StdioTarget:
        if self.transport == "http":
            assert self.url is not None
            return HttpTarget(self.url)
        assert self.command is not None
        return StdioTarget(self.command[0], tuple(self.command[1:]))


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    mode: Literal["tools", "agent"] = "tools"  # the scenario's system.mode
    servers: dict[str, GatewayServer] = Field(min_length=1)
    manager: ManagerSettings = Field(default_factory=ManagerSettings)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    events_dir: Path | None = None
    source: str = "gateway"
    # The scenario's system.auth / rate_limit / cache (harness/auth/settings.py), all off by default.
    auth: AuthSettings = Field(default_factory=AuthSettings)
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)

    def manager_config(self) -> ManagerConfig:
        return manager_config_from_settings(self.manager, self.seed)

    def server_manager_configs(self) -> dict[str, ManagerConfig]:
        """Each server's full configuration: the manager's, tuned by the server's own settings."""
        return {
            name: server_manager_config(self.manager, server, self.seed)
            for name, server in self.servers.items()
        }


def server_manager_config(m: ManagerSettings, server: ServerTuning, seed: int = 0) -> ManagerConfig:
    """The manager's settings with one server's tuning applied, as the seeds' agent factory does.

    ``timeout_s`` sets the call timeout, ``retries`` the attempts (``retries + 1``), ``pool_size``
    the pool. The breaker is the server's own ``breaker`` if given; otherwise, when the server
    sets ``timeout_s`` or ``retries``, it is derived: ``failure_threshold = retries + 2`` and
    ``recovery_timeout_s = 2 × timeout_s`` (for a sliding-window breaker only the recovery
    timeout is derived); otherwise it is the manager's.
    """
    base = manager_config_from_settings(m, seed)
    timeout_s = server.timeout_s if server.timeout_s is not None else base.call_timeout_s
    attempts = server.retries + 1 if server.retries is not None else base.retry.max_attempts
    breaker = base.breaker
    enabled = base.breaker_enabled
    if server.breaker is not None:
        breaker = _breaker_config(server.breaker)
        enabled = server.breaker.enabled
    elif server.timeout_s is not None or server.retries is not None:
        if isinstance(breaker, BreakerConfig):
            breaker = replace(breaker, failure_threshold=(attempts - 1) + 2, recovery_timeout_s=2 * timeout_s)
        else:
            breaker = replace(breaker, recovery_timeout_s=2 * timeout_s)
    pool = base.pool if server.pool_size is None else replace(base.pool, size=server.pool_size)
    return replace(
        base,
        call_timeout_s=timeout_s,
        retry=replace(base.retry, max_attempts=attempts),
        breaker=breaker,
        breaker_enabled=enabled,
        pool=pool,
    )


def manager_config_from_settings(m: ManagerSettings, seed: int = 0) -> ManagerConfig:
    """Translate the scenario's manager settings into the manager's typed configuration."""
    b = m.breaker
    breaker = _breaker_config(b)
    r = m.retry
    h = m.hedging
    return ManagerConfig(
        call_timeout_s=m.call_timeout_s,
        connect_timeout_s=m.connect_timeout_s,
        pool=PoolConfig(**m.pool.model_dump()),
        breaker=breaker,
        breaker_enabled=b.enabled,
        retry=RetryConfig(
            max_attempts=r.max_attempts,
            base_delay_s=r.base_delay_s,
            max_delay_s=r.max_delay_s,
            multiplier=r.multiplier,
            jitter=r.jitter,
            honour_retry_after=r.honour_retry_after,
        ),
        retry_budget=BudgetConfig(ratio=r.budget_ratio, min_per_s=r.budget_min_per_s),
        bulkhead=BulkheadConfig(
            max_concurrent=m.bulkhead.max_concurrent,
            max_queue=m.bulkhead.max_queue,
            max_wait_s=m.bulkhead.max_wait_s,
        ),
        hedge_tools=frozenset(h.tools),
        hedge=HedgeConfig(
            delay_s=h.delay_s, quantile=h.quantile, min_samples=h.min_samples, budget_ratio=h.budget_ratio
        ),
        seed=seed,
    )


def _breaker_config(b: BreakerSettings) -> BreakerConfig | SlidingWindowConfig:
    outcomes = frozenset(b.failure_outcomes)
    if b.policy == "consecutive":
        return BreakerConfig(
            failure_threshold=b.failure_threshold,
            recovery_timeout_s=b.recovery_timeout_s,
            success_threshold=b.success_threshold,
            half_open_max_calls=b.half_open_max_calls,
            failure_outcomes=outcomes,
        )
    return SlidingWindowConfig(
        window_type=b.window_type,
        window_size=b.window_size,
        minimum_number_of_calls=b.minimum_number_of_calls,
        failure_rate_threshold=b.failure_rate_threshold,
        slow_call_duration_s=b.slow_call_duration_s,
        slow_call_rate_threshold=b.slow_call_rate_threshold,
        recovery_timeout_s=b.recovery_timeout_s,
        permitted_number_of_calls_in_half_open=b.permitted_number_of_calls_in_half_open,
        half_open_max_calls=b.half_open_max_calls,
        failure_outcomes=outcomes,
    )


def load_gateway_config(path: Path) -> GatewayConfig:
    """Read a gateway config file. Raises :class:`ConfigError` naming the file and key."""
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read gateway config: {exc}") from None
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{path}: {'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError("\n".join(lines)) from None

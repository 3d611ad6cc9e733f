"""Gateway configuration: which servers, how the manager and agent behave, where events go.

The orchestrator writes one of these as JSON for every run (``runtime/gateway.json``);
``chaosbench gateway --config FILE`` reads the same format (JSON or YAML).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.connection import HttpTarget, StdioTarget
from harness.errors import ConfigError
from harness.manager import ManagerConfig
from harness.resilience.breaker import BreakerConfig
from harness.scenario import AgentConfig, ManagerSettings

__all__ = ["GatewayConfig", "GatewayServer", "load_gateway_config"]


class GatewayServer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

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
    servers: dict[str, GatewayServer] = Field(min_length=1)
    manager: ManagerSettings = Field(default_factory=ManagerSettings)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    events_dir: Path | None = None
    source: str = "gateway"

    def manager_config(self) -> ManagerConfig:
        m = self.manager
        return ManagerConfig(
            call_timeout_s=m.call_timeout_s,
            connect_timeout_s=m.connect_timeout_s,
            max_attempts=m.max_attempts,
            retry_backoff_s=m.retry_backoff_s,
            max_in_flight_per_session=m.max_in_flight_per_session,
            breaker=BreakerConfig(**m.breaker.model_dump()),
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

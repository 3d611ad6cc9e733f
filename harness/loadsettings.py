"""The Locust settings file: what the orchestrator tells every Locust process (contract C1).

``CHAOSBENCH_LOCUST_CONFIG`` names a JSON file that every Locust process of a run
(the local one, or the master and each worker) reads::

    {"events_dir": "RUN/events", "runtime_dir": "RUN/runtime", "csv_prefix": "RUN/locust/locust",
     "seed": 42, "load": {...scenario.load as JSON...}, "servers": ["weather"],
     "workers": 0, "connect_timeout_s": 10.0, "auth": {...scenario.system.auth as JSON...}}

``auth`` (no secrets: the signing key is in the process's environment, see
``harness.orchestrator.childenv``) tells the users to mint one token per session.

``workers`` is the number of Locust worker processes (0: one local process runs the users).
A process's name comes from ``CHAOSBENCH_WORKER`` (``local``, ``master``, ``w1``, ``w2``, ...).
Keys not listed here are ignored, so the orchestrator may add some before the load side reads them.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.auth.settings import AuthSettings
from harness.errors import ConfigError
from harness.scenario import LoadConfig

__all__ = ["LOCUST_CONFIG_ENV", "LOCUST_WORKER_ENV", "LocustSettings", "read_locust_settings"]

LOCUST_CONFIG_ENV = "CHAOSBENCH_LOCUST_CONFIG"
LOCUST_WORKER_ENV = "CHAOSBENCH_WORKER"


class LocustSettings(BaseModel):
    """Contract C1 (see the module docstring)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    events_dir: Path
    runtime_dir: Path
    csv_prefix: str | None = None
    seed: int = 0
    load: LoadConfig
    servers: list[str] = Field(min_length=1)
    workers: int = Field(default=0, ge=0)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    auth: AuthSettings = Field(default_factory=AuthSettings)

    @model_validator(mode="after")
    def _session_servers_known(self) -> LocustSettings:
        for i, session in enumerate(self.load.sessions):
            unknown = [s for s in session.servers or [] if s not in self.servers]
            if unknown:
                raise ValueError(
                    f"load.sessions[{i}].servers names unknown server(s) {unknown}; "
                    f"expected some of {self.servers}"
                )
        return self

    @property
    def processes(self) -> int:
        """How many processes run users: the workers, or the single local process."""
        return max(self.workers, 1)


def read_locust_settings(path: Path) -> LocustSettings:
    """Read and validate the settings file. Raises :class:`ConfigError` naming the file and the key."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the Locust settings: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: the Locust settings are not JSON: {exc}") from None
    try:
        return LocustSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: invalid Locust settings: {problems}") from None

"""The run directory: its layout, ``environment.json`` and ``run.json`` (see docs/architecture.md)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from harness.scenario import Scenario

__all__ = ["RunDir", "RunRecord", "create_run_dir"]

PACKAGES = ("chaosbench", "mcp", "locust", "langchain-core", "langchain-mcp-adapters", "uvicorn", "pandas")


@dataclass
class RunRecord:
    """What ``run.json`` says about how the run went; rewritten as it progresses."""

    run_id: str
    scenario: str
    status: str = "running"
    reason: str | None = None
    t_start: float = field(default_factory=time.time)
    t_end: float | None = None
    load_t_start: float | None = None
    load_t_end: float | None = None
    processes: list[dict[str, Any]] = field(default_factory=list)
    workers: int = 0  # Locust workers (0: one local Locust process)
    web_ui: str | None = None  # Locust's web UI, when served
    profile: str | None = (
        None  # the scenario's --profile the run was played with (chaosbench compare shows it)
    )


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def events(self) -> Path:
        return self.path / "events"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def runtime(self) -> Path:
        return self.path / "runtime"

    @property
    def locust(self) -> Path:
        return self.path / "locust"

    def write_run_record(self, record: RunRecord) -> None:
        _write_json_atomic(self.path / "run.json", vars(record))

    def write_environment(self, started: float, ended: float | None) -> None:
        env = {
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "packages": {name: _version(name) for name in PACKAGES},
            "git_commit": _git_commit(),
            "argv": sys.argv,
            "start_wall_time": started,
            "start_iso": datetime.fromtimestamp(started, UTC).isoformat(),
            "end_wall_time": ended,
            "end_iso": datetime.fromtimestamp(ended, UTC).isoformat() if ended else None,
        }
        _write_json_atomic(self.path / "environment.json", env)


def create_run_dir(out: Path, scenario: Scenario, now: float | None = None) -> tuple[RunDir, str]:
    """Make ``<out>/<run_id>/`` with its sub-folders and ``scenario.yaml``; returns it and the run id."""
    stamp = datetime.fromtimestamp(now if now is not None else time.time(), UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{scenario.name}"
    run_id = base
    suffix = 1
    while (out / run_id).exists():
        suffix += 1
        run_id = f"{base}-{suffix}"
    run = RunDir(out / run_id)
    for sub in (run.path, run.events, run.logs, run.runtime, run.locust, run.path / "report"):
        sub.mkdir(parents=True, exist_ok=True)
    (run.path / "scenario.yaml").write_text(
        yaml.safe_dump(scenario.resolved(), sort_keys=False), encoding="utf-8"
    )
    return run, run_id


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None

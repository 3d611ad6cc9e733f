"""Real Locust (local, or a master and workers) against a real gateway and weather server on 127.0.0.1.

Every process runs in its own process group (``ManagedProcess``) and is stopped after the test.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.netutil import free_port
from harness.orchestrator.procs import ManagedProcess

REPO = Path(__file__).resolve().parents[3]
LOCUSTFILE = REPO / "scenarios" / "locust_agent.py"
FAULT_SERVER = [sys.executable, "-m", "fault_servers", "serve", "weather", "--transport", "http"]


def wait_ready(proc: ManagedProcess, url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.alive(), f"{proc.name} exited with {proc.exit_code}:\n{proc.log_tail()}"
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{proc.name} not ready at {url} within {timeout_s}s:\n{proc.log_tail()}")


@dataclass
class LocustRun:
    """What one Locust run left behind."""

    root: Path
    exit_codes: dict[str, int | None]
    logs: dict[str, str]

    @property
    def events(self) -> Path:
        return self.root / "events"

    @property
    def runtime(self) -> Path:
        return self.root / "runtime"

    def rows(self, table: str) -> dict[str, list[dict[str, Any]]]:
        """Rows of every ``events/<table>.<worker>-<pid>.jsonl`` file, by file source."""
        found = {}
        for path in sorted(self.events.glob(f"{table}.*.jsonl")):
            source = path.name.removeprefix(f"{table}.").removesuffix(".jsonl")
            found[source] = [json.loads(line) for line in path.read_text().splitlines() if line]
        return found

    def all_rows(self, table: str) -> list[dict[str, Any]]:
        return [row for rows in self.rows(table).values() for row in rows]

    def issued(self) -> dict[str, int]:
        return {
            json.loads(p.read_text())["worker"]: json.loads(p.read_text())["issued"]
            for p in self.runtime.glob("issued.*.json")
        }

    def statuses(self) -> dict[str, dict[str, Any]]:
        return {
            p.name.removeprefix("locust-status.").removesuffix(".json"): json.loads(p.read_text())
            for p in self.runtime.glob("locust-status.*.json")
        }


@dataclass
class Stack:
    """A weather server and a gateway in front of it; ``run_locust`` plays a load against them."""

    root: Path
    gateway_url: str = ""
    procs: list[ManagedProcess] = field(default_factory=list)

    def run_locust(
        self, load: dict[str, Any], *, workers: int = 0, seed: int = 3, timeout_s: float = 90.0
    ) -> LocustRun:
        run_root = self.root / f"run-{len(list(self.root.glob('run-*')))}"
        (run_root / "runtime").mkdir(parents=True)
        settings = {
            "events_dir": str(run_root / "events"),
            "runtime_dir": str(run_root / "runtime"),
            "csv_prefix": str(run_root / "locust" / "locust"),
            "seed": seed,
            "load": load,
            "servers": ["weather"],
            "workers": workers,
            "connect_timeout_s": 5.0,
        }
        settings_path = run_root / "runtime" / "locust.json"
        settings_path.write_text(json.dumps(settings), encoding="utf-8")
        base = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]
        env = {"CHAOSBENCH_LOCUST_CONFIG": str(settings_path), "PYTHONPATH": str(REPO)}
        # --stop-timeout 30 on purpose: the scenario's load.stop_timeout_s must win over it.
        common = ["--headless", "--host", self.gateway_url, "--stop-timeout", "30", "--only-summary"]
        common += ["--csv", settings["csv_prefix"], "--exit-code-on-error", "0"]
        procs: dict[str, ManagedProcess] = {}

        def start(name: str, argv: list[str]) -> None:
            procs[name] = ManagedProcess(
                f"locust-{name}",
                argv,
                run_root / "logs" / f"locust-{name}.log",
                env={**os.environ, **env, "CHAOSBENCH_WORKER": name},
            )
            self.procs.append(procs[name])

        if workers == 0:
            start("local", [*base, *common])
        else:
            port = free_port()
            master = ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port)]
            master += ["--expect-workers", str(workers), "--expect-workers-max-wait", "30"]
            start("master", [*base, *common, *master])
            for i in range(1, workers + 1):
                start(f"w{i}", [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)])
        lead = procs["local" if workers == 0 else "master"]
        try:
            lead.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"Locust did not finish within {timeout_s}s:\n{lead.log_tail()}")
        for proc in procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):  # workers quit when the master does
                proc.popen.wait(timeout=15.0 if proc is not lead else 0.0)
            proc.stop(grace_s=5.0)
        return LocustRun(
            run_root,
            {name: p.exit_code for name, p in procs.items()},
            {name: p.log_tail(40) for name, p in procs.items()},
        )


@contextlib.contextmanager
def running_stack(root: Path, agent: dict[str, Any]) -> Iterator[Stack]:
    state = Stack(root)
    try:
        server_port, gateway_port = free_port(), free_port()
        server = ManagedProcess(
            "server-weather",
            [*FAULT_SERVER, "--host", "127.0.0.1", "--port", str(server_port), "--seed", "1"],
            root / "logs" / "server.log",
        )
        state.procs.append(server)
        wait_ready(server, f"http://127.0.0.1:{server_port}/healthz")
        config = {
            "seed": 1,
            "mode": "tools",
            "servers": {
                "weather": {
                    "kind": "weather",
                    "transport": "http",
                    "url": f"http://127.0.0.1:{server_port}/mcp",
                }
            },
            "agent": agent,
            "events_dir": str(root / "gateway-events"),
        }
        config_path = root / "gateway.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        gateway = ManagedProcess(
            "gateway",
            [
                sys.executable,
                "-m",
                "harness.gateway",
                "--config",
                str(config_path),
                "--port",
                str(gateway_port),
            ],
            root / "logs" / "gateway.log",
        )
        state.procs.append(gateway)
        state.gateway_url = f"http://127.0.0.1:{gateway_port}"
        wait_ready(gateway, f"{state.gateway_url}/ready")
        yield state
    finally:
        for proc in reversed(state.procs):
            proc.stop(grace_s=10.0)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path, {"tool_calls_per_turn": 1}) as state:
        yield state


@pytest.fixture
def slow_stack(tmp_path: Path) -> Iterator[Stack]:
    """Every turn takes 2 s (the scripted agent's simulated LLM latency before its one call)."""
    with running_stack(tmp_path, {"tool_calls_per_turn": 1, "llm_latency_s": 2.0}) as state:
        yield state

"""What the orchestrator hands its children: server command lines, fault files, the gateway config.

Pure functions of the scenario, the run directory and the planned run start (the origin
of the fault timeline), so the same server command is produced for an HTTP server the
orchestrator starts and for a stdio server the gateway's pool spawns (and respawns).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from harness.orchestrator.rundir import RunDir
from harness.scenario import Scenario

__all__ = ["gateway_config", "has_crash_faults", "server_command", "write_fault_file"]


def write_fault_file(scenario: Scenario, run: RunDir, name: str) -> Path | None:
    """``runtime/faults-<name>.yaml`` (static faults and timeline windows); ``None`` if it has none."""
    data = scenario.fault_file(name)
    if not data["faults"] and not data["timeline"]:
        return None
    path = run.runtime / f"faults-{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def server_command(
    scenario: Scenario, run: RunDir, name: str, kind: str, transport: str, run_start: float | None
) -> list[str]:
    """``python -m fault_servers serve ...`` for one server: seed, faults, events, run start."""
    argv = [
        sys.executable,
        "-m",
        "fault_servers",
        "serve",
        kind,
        "--transport",
        transport,
        "--seed",
        str(scenario.seed),
        "--name",
        name,
        "--events-dir",
        str(run.events),
    ]
    faults_file = write_fault_file(scenario, run, name)
    if faults_file is not None:
        argv += ["--faults", str(faults_file)]
    if run_start is not None:
        argv += ["--run-start", f"{run_start:.6f}"]
    return argv


def has_crash_faults(scenario: Scenario, name: str) -> bool:
    """Whether the server's faults (static or timeline) include ``crash`` (it is then restarted)."""
    if scenario.system.servers[name].url is not None:
        return False
    data = scenario.fault_file(name)
    entries = [*data["faults"], *(w["fault"] for w in data["timeline"])]
    return any(isinstance(f, dict) and f.get("kind") == "crash" for f in entries)


def gateway_config(
    scenario: Scenario, run: RunDir, http_ports: Mapping[str, int], run_start: float | None
) -> dict[str, Any]:
    """``runtime/gateway.json``: every server as the gateway reaches it, the manager and the agent.

    A server with a ``url`` is reached there; an HTTP server the orchestrator started on
    ``http_ports[name]``; a stdio server is spawned by the gateway with :func:`server_command`.
    """
    servers: dict[str, dict[str, Any]] = {}
    for name, server in scenario.system.servers.items():
        kind = server.kind or name
        tuning = server.model_dump(mode="json", include={"timeout_s", "retries", "pool_size", "breaker"})
        if server.url is not None:
            servers[name] = {"kind": kind, "transport": "http", "url": server.url, **tuning}
        elif scenario.system.transport == "http":
            url = f"http://127.0.0.1:{http_ports[name]}/mcp"
            servers[name] = {"kind": kind, "transport": "http", "url": url, **tuning}
        else:
            command = server_command(scenario, run, name, kind, "stdio", run_start)
            servers[name] = {"kind": kind, "transport": "stdio", "command": command, **tuning}
    return {
        "seed": scenario.seed,
        "mode": scenario.system.mode,
        "servers": servers,
        "manager": scenario.system.manager.model_dump(mode="json"),
        "agent": scenario.system.agent.model_dump(mode="json"),
        "events_dir": str(run.events),
        "source": "gateway",
        # No secrets here: keys come from the gateway's environment (childenv.py) or auth.keys files.
        "auth": scenario.system.auth.model_dump(mode="json"),
        "rate_limit": scenario.system.rate_limit.model_dump(mode="json"),
        "cache": scenario.system.cache.model_dump(mode="json"),
    }

"""The gateway's ``/health``: per-server status, system resources, and the overall verdict.

Per server (from the manager's snapshot):

- ``healthy``: a live session and the breaker ``closed`` (or ``disabled``);
- ``degraded``: a live session and the breaker ``half_open`` (probing);
- ``unhealthy``: no live session, or the breaker ``open`` / ``forced_open``.

Overall: ``unhealthy`` (HTTP 503) when every server is unhealthy; ``degraded``
when any server is not healthy, a resource is over its threshold, or a component
check (audit queue dropping events, cache backend unreachable) fails; else
``healthy``. System memory over ``memory_percent`` degrades; CPU is reported but,
by default, judges nothing: a load test saturates CPU on purpose.

The decision (:func:`evaluate`) is pure; :func:`system_resources` reads psutil.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import psutil

__all__ = ["HealthReport", "HealthThresholds", "evaluate", "server_status", "system_resources"]


@dataclass(frozen=True)
class HealthThresholds:
    """Resource levels (percent) from which the gateway reports ``degraded``; ``None`` judges nothing."""

    memory_percent: float | None = 95.0
    cpu_percent: float | None = None


@dataclass(frozen=True)
class HealthReport:
    status: str  # healthy | degraded | unhealthy
    servers: dict[str, str]
    reasons: list[str] = field(default_factory=list)

    @property
    def http_status(self) -> int:
        return 503 if self.status == "unhealthy" else 200


def server_status(metrics: Mapping[str, Any]) -> str:
    """One server's status from its manager snapshot (see the module docstring)."""
    state = str(metrics.get("breaker_state"))
    if not metrics.get("connected") or state in ("open", "forced_open"):
        return "unhealthy"
    if state == "half_open":
        return "degraded"
    return "healthy"


def evaluate(
    servers: Mapping[str, Mapping[str, Any]],
    resources: Mapping[str, Any],
    checks: Mapping[str, str] | None = None,
    thresholds: HealthThresholds | None = None,
) -> HealthReport:
    """The verdict. ``checks`` maps a component to ``"ok"`` or what is wrong with it."""
    limits = thresholds or HealthThresholds()
    statuses = {name: server_status(m) for name, m in servers.items()}
    reasons = [f"server {name} is {s}" for name, s in sorted(statuses.items()) if s != "healthy"]
    for key, limit in (("memory_percent", limits.memory_percent), ("cpu_percent", limits.cpu_percent)):
        value = resources.get(key)
        if limit is not None and isinstance(value, int | float) and value >= limit:
            reasons.append(f"{key} {value:.0f} >= {limit:.0f}")
    reasons += [f"{name}: {state}" for name, state in sorted((checks or {}).items()) if state != "ok"]
    if statuses and all(s == "unhealthy" for s in statuses.values()):
        status = "unhealthy"
    elif reasons:
        status = "degraded"
    else:
        status = "healthy"
    return HealthReport(status, statuses, reasons)


def system_resources(process: psutil.Process | None = None) -> dict[str, Any]:
    """This process's and the machine's resource use (CPU since the previous call, memory, load)."""
    proc = process or psutil.Process()
    with proc.oneshot():
        rss = proc.memory_info().rss
        cpu = proc.cpu_percent(None)
        threads = proc.num_threads()
        fds = proc.num_fds() if hasattr(proc, "num_fds") else None
    memory = psutil.virtual_memory()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "process_cpu_percent": cpu,
        "cpu_percent": psutil.cpu_percent(None),
        "cpu_count": psutil.cpu_count() or 1,
        "load_average_1m": load[0],
        "rss_bytes": rss,
        "memory_percent": memory.percent,
        "memory_available_bytes": memory.available,
        "threads": threads,
        "open_fds": fds,
    }

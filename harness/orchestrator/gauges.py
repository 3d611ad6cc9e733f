"""The gateway's ``/metrics`` read back: run-wide figures and per-server gauges.

The orchestrator scrapes the gateway about once a second; a :class:`GatewaySnapshot`
feeds the progress line and the per-server rows of the ``samples`` table
(``process`` = ``gateway/<server>``; see docs/architecture.md, "Event tables").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["GatewaySnapshot", "ServerGauges", "parse_metrics", "scrape", "server_rows"]

#: ``circuit_breaker_state`` values (harness/gateway/metrics.py) back to the state names.
STATE_NAMES = {0: "closed", 1: "open", 2: "half_open", 3: "forced_open", 4: "disabled"}


@dataclass
class ServerGauges:
    """One server as the gateway's manager sees it at a scrape."""

    breaker_state: str = "?"
    server_up: int = 0
    pool_in_flight: float = 0.0
    pool_sessions: float = 0.0
    pool_waiters: float = 0.0
    reconnects: float = 0.0
    retries_total: float = 0.0


@dataclass(frozen=True)
class GatewaySnapshot:
    requests: float
    errors: float
    p95_s: float | None
    in_progress: float
    servers: dict[str, ServerGauges] = field(default_factory=dict)

    @property
    def breakers(self) -> dict[str, str]:
        return {name: g.breaker_state for name, g in self.servers.items()}


_PER_SERVER = {
    "mcp_server_health": "server_up",
    "mcp_session_in_flight": "pool_in_flight",
    "mcp_pool_sessions": "pool_sessions",
    "mcp_pool_waiters": "pool_waiters",
    "mcp_session_reconnects_total": "reconnects",
    "mcp_tool_retries_total": "retries_total",
}


def parse_metrics(text: str) -> GatewaySnapshot:
    """Read the figures progress and samples need from a Prometheus exposition."""
    requests = errors = in_progress = 0.0
    buckets: list[tuple[float, float]] = []
    servers: dict[str, ServerGauges] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name = sample.name
            if name == "agent_requests_total":
                requests += sample.value
                if sample.labels.get("status") != "200":
                    errors += sample.value
            elif name == "agent_request_duration_seconds_bucket":
                le = sample.labels["le"]
                buckets.append((float("inf") if le == "+Inf" else float(le), sample.value))
            elif name == "active_agents_current":
                in_progress = sample.value
            elif name == "circuit_breaker_state":
                gauges = servers.setdefault(sample.labels["server"], ServerGauges())
                gauges.breaker_state = STATE_NAMES.get(int(sample.value), "?")
            elif name in _PER_SERVER:
                gauges = servers.setdefault(sample.labels["server"], ServerGauges())
                value: Any = int(sample.value) if name == "mcp_server_health" else sample.value
                setattr(gauges, _PER_SERVER[name], value)
    return GatewaySnapshot(
        requests, errors, _bucket_quantile(sorted(buckets), 0.95), in_progress, dict(sorted(servers.items()))
    )


def _bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float | None:
    """Upper bound of the histogram bucket holding the q-quantile (coarse, for progress only)."""
    if not buckets or buckets[-1][1] == 0:
        return None
    target = q * buckets[-1][1]
    for le, count in buckets:
        if count >= target:
            return le
    return None


def scrape(base_url: str, timeout_s: float = 1.0) -> GatewaySnapshot | None:
    """The gateway's metrics now, or ``None`` when it does not answer."""
    try:
        response = httpx.get(f"{base_url}/metrics", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_metrics(response.text)


def server_rows(t: float, snapshot: GatewaySnapshot) -> list[dict[str, object]]:
    """One ``samples`` row per server (contract C4): ``process`` is ``gateway/<server>``."""
    return [
        {
            "t": t,
            "process": f"gateway/{name}",
            "server": name,
            "breaker_state": g.breaker_state,
            "server_up": g.server_up,
            "pool_in_flight": g.pool_in_flight,
            "pool_sessions": g.pool_sessions,
            "pool_waiters": g.pool_waiters,
            "reconnects": g.reconnects,
            "retries_total": g.retries_total,
        }
        for name, g in snapshot.servers.items()
    ]

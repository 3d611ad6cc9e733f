"""Prometheus metrics of the gateway, on a registry of its own.

Counters that the manager already keeps (tool-call outcomes) and gauges of its
state (breakers, sessions) are read at scrape time by a collector, so the
exposition agrees with the manager's own figures and with the ``calls`` table.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from harness.manager import ResilientMCPManager

__all__ = ["GatewayMetrics"]

BREAKER_STATE_VALUE = {"closed": 0, "open": 1, "half_open": 2, "forced_open": 3, "disabled": 4}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _ManagerCollector(Collector):
    def __init__(self, manager: ResilientMCPManager) -> None:
        self._manager = manager

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        calls = CounterMetricFamily(
            "mcp_tool_calls",
            "Tool-call attempts through the manager, by outcome",
            labels=["server", "tool", "outcome"],
        )
        for (server, tool, outcome), count in sorted(self._manager.outcomes.items()):
            calls.add_metric([server, tool, outcome], count)
        yield calls
        state = GaugeMetricFamily(
            "circuit_breaker_state",
            "Breaker state per server (0 closed, 1 open, 2 half-open, 3 forced open, 4 disabled)",
            labels=["server"],
        )
        health = GaugeMetricFamily(
            "mcp_server_health", "1 when the server's session is up", labels=["server"]
        )
        in_flight = GaugeMetricFamily(
            "mcp_session_in_flight", "Tool calls in flight per server", labels=["server"]
        )
        reconnects = CounterMetricFamily(
            "mcp_session_reconnects", "Sessions reopened per server", labels=["server"]
        )
        for server, m in self._manager.get_metrics().items():
            state.add_metric([server], BREAKER_STATE_VALUE[m["breaker_state"]])
            health.add_metric([server], 1.0 if m["connected"] else 0.0)
            in_flight.add_metric([server], m["in_flight"])
            reconnects.add_metric([server], m["reconnects"])
        yield state
        yield health
        yield in_flight
        yield reconnects


class GatewayMetrics:
    """The gateway's metrics; ``registry`` is what ``/metrics`` exposes."""

    def __init__(self, manager: ResilientMCPManager) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "agent_requests", "Agent turns served, by HTTP status", ["status"], registry=self.registry
        )
        self.duration = Histogram(
            "agent_request_duration_seconds",
            "Time to serve one agent turn",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.active = Gauge("active_agents_current", "Agent turns in progress", registry=self.registry)
        self.registry.register(_ManagerCollector(manager))

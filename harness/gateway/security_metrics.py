"""Prometheus families of the gateway's protections, read from their counters at scrape time.

| family | type | labels |
|---|---|---|
| ``auth_authentications_total`` | counter | ``result`` (``success``/``failure``) |
| ``auth_failures_total`` | counter | ``reason`` (every reason of ``harness.auth.FAILURE_REASONS``, 0 included) |
| ``auth_forbidden_total`` | counter | ``reason`` (request-level 403: ``session_mismatch``, ``not_admin``) |
| ``authz_decisions_total`` | counter | ``decision`` (``grant``/``deny``), ``server``, ``tool`` |
| ``rate_limited_total`` | counter | |
| ``rate_limit_users`` | gauge | (buckets kept) |
| ``audit_events_total`` / ``audit_events_dropped_total`` | counter | |
| ``mcp_cache_requests_total`` | counter | ``server``, ``tool``, ``result`` (``hit``/``miss``/``error``/``stored``) |

Denied tool calls are also ``mcp_tool_calls_total{outcome="denied"}`` (the manager's
counter, which agrees with the ``calls`` table); cache hits are not tool calls.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from harness.auth import FAILURE_REASONS
from harness.gateway.security import GatewaySecurity

__all__ = ["SecurityCollector"]


class SecurityCollector(Collector):
    def __init__(self, security: GatewaySecurity) -> None:
        self._security = security

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        s = self._security
        if s.verifier is not None:
            yield from self._auth()
        if s.limiter is not None:
            yield CounterMetricFamily(
                "rate_limited", "Requests refused by the per-user rate limit (429)", value=s.rate_limited
            )
            yield GaugeMetricFamily("rate_limit_users", "Users with a token bucket", value=len(s.limiter))
        if s.cache is not None:
            cache = CounterMetricFamily(
                "mcp_cache_requests",
                "Response-cache lookups and stores, by result",
                labels=["server", "tool", "result"],
            )
            for (server, tool, result), count in sorted(s.cache.counts.items()):
                cache.add_metric([server, tool, result], count)
            yield cache

    def _auth(self) -> Iterator[CounterMetricFamily]:
        s = self._security
        results = CounterMetricFamily(
            "auth_authentications", "Bearer token verifications, by result", labels=["result"]
        )
        results.add_metric(["success"], s.authenticated)
        results.add_metric(["failure"], sum(s.failures.values()))
        yield results
        failures = CounterMetricFamily(
            "auth_failures", "Authentication failures (401), by reason", labels=["reason"]
        )
        for reason in FAILURE_REASONS:
            failures.add_metric([reason], s.failures.get(reason, 0))
        yield failures
        forbidden = CounterMetricFamily(
            "auth_forbidden", "Requests refused before the turn (403), by reason", labels=["reason"]
        )
        for reason in ("session_mismatch", "not_admin"):
            forbidden.add_metric([reason], s.forbidden.get(reason, 0))
        yield forbidden
        decisions = CounterMetricFamily(
            "authz_decisions", "Tool-call authorization decisions", labels=["decision", "server", "tool"]
        )
        if s.authorizer is not None:
            for (decision, server, tool), count in sorted(s.authorizer.decisions.items()):
                decisions.add_metric([decision, server, tool], count)
        yield decisions
        yield CounterMetricFamily("audit_events", "Audit events written", value=s.audit.written)
        yield CounterMetricFamily(
            "audit_events_dropped", "Audit events dropped (queue full)", value=s.audit.dropped
        )

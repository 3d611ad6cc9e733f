"""Live progress lines from the gateway's ``/metrics``, readable in a terminal and in CI logs."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["GatewaySnapshot", "format_progress", "parse_metrics", "scrape"]

STATE_NAMES = {0: "closed", 1: "open", 2: "half_open"}


@dataclass(frozen=True)
class GatewaySnapshot:
    requests: float
    errors: float
    p95_s: float | None
    in_progress: float
    breakers: dict[str, str]


def parse_metrics(text: str) -> GatewaySnapshot:
    """Read the figures progress needs from a Prometheus exposition."""
    requests = errors = in_progress = 0.0
    buckets: list[tuple[float, float]] = []
    breakers: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "agent_requests_total":
                requests += sample.value
                if sample.labels.get("status") != "200":
                    errors += sample.value
            elif sample.name == "agent_request_duration_seconds_bucket":
                le = sample.labels["le"]
                buckets.append((float("inf") if le == "+Inf" else float(le), sample.value))
            elif sample.name == "active_agents_current":
                in_progress = sample.value
            elif sample.name == "circuit_breaker_state":
                breakers[sample.labels["server"]] = STATE_NAMES.get(int(sample.value), "?")
    return GatewaySnapshot(requests, errors, _bucket_quantile(sorted(buckets), 0.95), in_progress, breakers)


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
    try:
        response = httpx.get(f"{base_url}/metrics", timeout=timeout_s)
        response.raise_for_status()
    except httpx.HTTPError:
        return None
    return parse_metrics(response.text)


def format_progress(
    elapsed_s: float,
    duration_s: float,
    now: GatewaySnapshot | None,
    before: GatewaySnapshot | None,
    dt_s: float,
) -> str:
    head = f"[{elapsed_s:5.0f}s/{duration_s:.0f}s]"
    if now is None:
        return f"{head} gateway metrics unavailable"
    rate = (now.requests - (before.requests if before else 0.0)) / dt_s if dt_s > 0 else 0.0
    p95 = "-" if now.p95_s is None else ("<=" + (f"{now.p95_s:g}s" if now.p95_s != float("inf") else "inf"))
    err_pct = 100.0 * now.errors / now.requests if now.requests else 0.0
    breakers = " ".join(f"{k}={v}" for k, v in sorted(now.breakers.items())) or "-"
    return (
        f"{head} requests {now.requests:.0f} ({rate:.1f}/s)  in flight {now.in_progress:.0f}  "
        f"p95 {p95}  errors {now.errors:.0f} ({err_pct:.1f}%)  breakers {breakers}"
    )

"""Progress lines read from the gateway's Prometheus exposition."""

from __future__ import annotations

from harness.orchestrator.progress import format_progress, parse_metrics

EXPOSITION = """\
# TYPE agent_requests_total counter
agent_requests_total{status="200"} 90.0
agent_requests_total{status="502"} 10.0
# TYPE agent_request_duration_seconds histogram
agent_request_duration_seconds_bucket{le="0.05"} 50.0
agent_request_duration_seconds_bucket{le="0.1"} 94.0
agent_request_duration_seconds_bucket{le="0.25"} 99.0
agent_request_duration_seconds_bucket{le="+Inf"} 100.0
agent_request_duration_seconds_count 100.0
agent_request_duration_seconds_sum 6.0
# TYPE active_agents_current gauge
active_agents_current 3.0
# TYPE circuit_breaker_state gauge
circuit_breaker_state{server="weather"} 1.0
"""


def test_parse_metrics_reads_counts_errors_breakers_and_the_p95_bucket() -> None:
    snap = parse_metrics(EXPOSITION)
    assert snap.requests == 100
    assert snap.errors == 10
    assert snap.in_progress == 3
    assert snap.breakers == {"weather": "open"}
    assert snap.p95_s == 0.25


def test_progress_line_shows_rate_errors_and_breakers() -> None:
    before = parse_metrics(EXPOSITION.replace("90.0", "40.0"))
    line = format_progress(10.0, 30.0, parse_metrics(EXPOSITION), before, 5.0)
    assert line.startswith("[   10s/30s]")
    assert "requests 100 (10.0/s)" in line
    assert "errors 10 (10.0%)" in line
    assert "weather=open" in line


def test_progress_line_says_when_metrics_are_unavailable() -> None:
    assert "unavailable" in format_progress(1.0, 30.0, None, None, 1.0)

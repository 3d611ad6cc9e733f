"""The /health verdict: per-server status and the healthy/degraded/unhealthy rules."""

from __future__ import annotations

from typing import Any

import pytest

from harness.gateway.health import HealthThresholds, evaluate, server_status, system_resources


def server(connected: bool = True, breaker: str = "closed") -> dict[str, Any]:
    return {"connected": connected, "breaker_state": breaker}


@pytest.mark.parametrize(
    ("connected", "breaker", "status"),
    [
        (True, "closed", "healthy"),
        (True, "disabled", "healthy"),
        (True, "half_open", "degraded"),
        (True, "open", "unhealthy"),
        (True, "forced_open", "unhealthy"),
        (False, "closed", "unhealthy"),
    ],
)
def test_each_servers_status(connected: bool, breaker: str, status: str) -> None:
    assert server_status(server(connected, breaker)) == status


def test_all_healthy_is_healthy() -> None:
    report = evaluate({"a": server(), "b": server()}, {"memory_percent": 50.0, "cpu_percent": 100.0})
    assert (report.status, report.http_status, report.reasons) == ("healthy", 200, [])


def test_one_server_down_is_degraded_and_says_which() -> None:
    report = evaluate({"a": server(), "b": server(breaker="open")}, {})
    assert (report.status, report.http_status) == ("degraded", 200)
    assert report.reasons == ["server b is unhealthy"]


def test_every_server_down_is_unhealthy_with_503() -> None:
    report = evaluate({"a": server(False), "b": server(breaker="open")}, {})
    assert (report.status, report.http_status) == ("unhealthy", 503)


def test_memory_over_the_threshold_degrades_and_cpu_judges_only_when_asked() -> None:
    assert evaluate({"a": server()}, {"memory_percent": 96.0}).status == "degraded"
    assert evaluate({"a": server()}, {"cpu_percent": 99.0}).status == "healthy"
    limits = HealthThresholds(memory_percent=None, cpu_percent=90.0)
    assert evaluate(
        {"a": server()}, {"cpu_percent": 99.0, "memory_percent": 99.0}, thresholds=limits
    ).reasons == ["cpu_percent 99 >= 90"]


def test_a_failed_component_check_degrades() -> None:
    report = evaluate({"a": server()}, {}, {"audit": "ok", "cache": "redis unreachable"})
    assert (report.status, report.reasons) == ("degraded", ["cache: redis unreachable"])


def test_system_resources_are_read_from_psutil() -> None:
    resources = system_resources()
    assert resources["rss_bytes"] > 0 and resources["cpu_count"] >= 1
    assert 0 <= resources["memory_percent"] <= 100

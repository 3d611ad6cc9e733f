"""Progress lines: the gateway's Prometheus exposition read back, the load's position, the line itself."""

from __future__ import annotations

from typing import Any

import pytest

from harness.orchestrator.gauges import GatewaySnapshot, ServerGauges, parse_metrics, server_rows
from harness.orchestrator.loadstatus import LoadStatus
from harness.orchestrator.progress import (
    ActiveWindow,
    ProgressView,
    StagePosition,
    active_windows,
    format_progress,
    stage_at,
)
from harness.scenario import LoadConfig, TimelineEntry

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
circuit_breaker_state{server="database"} 4.0
# TYPE mcp_server_health gauge
mcp_server_health{server="weather"} 0.0
mcp_server_health{server="database"} 1.0
# TYPE mcp_session_in_flight gauge
mcp_session_in_flight{server="weather"} 5.0
# TYPE mcp_session_reconnects counter
mcp_session_reconnects_total{server="weather"} 2.0
# TYPE mcp_pool_sessions gauge
mcp_pool_sessions{server="weather"} 3.0
# TYPE mcp_pool_waiters gauge
mcp_pool_waiters{server="weather"} 7.0
# TYPE mcp_tool_retries counter
mcp_tool_retries_total{server="weather"} 11.0
"""

NO_WORDS_ANSI = "\033["


def view(**changes: Any) -> ProgressView:
    values: dict[str, Any] = {
        "elapsed_s": 10.0,
        "duration_s": 30.0,
        "gateway": parse_metrics(EXPOSITION),
        "before": parse_metrics(EXPOSITION.replace("90.0", "40.0")),
        "dt_s": 5.0,
    }
    return ProgressView(**(values | changes))


def test_parse_metrics_reads_counts_errors_the_p95_bucket_and_each_servers_gauges() -> None:
    snap = parse_metrics(EXPOSITION)
    assert (snap.requests, snap.errors, snap.in_progress, snap.p95_s) == (100, 10, 3, 0.25)
    assert snap.breakers == {"database": "disabled", "weather": "open"}
    assert snap.servers["weather"] == ServerGauges(
        breaker_state="open",
        server_up=0,
        pool_in_flight=5,
        pool_sessions=3,
        pool_waiters=7,
        reconnects=2,
        retries_total=11,
    )
    assert snap.servers["database"].server_up == 1


def test_server_rows_are_one_samples_row_per_server_named_gateway_slash_server() -> None:
    rows = server_rows(123.5, parse_metrics(EXPOSITION))
    assert [r["process"] for r in rows] == ["gateway/database", "gateway/weather"]
    weather = rows[1]
    assert weather == {
        "t": 123.5,
        "process": "gateway/weather",
        "server": "weather",
        "breaker_state": "open",
        "server_up": 0,
        "pool_in_flight": 5.0,
        "pool_sessions": 3.0,
        "pool_waiters": 7.0,
        "reconnects": 2.0,
        "retries_total": 11.0,
    }


def test_a_line_shows_time_rate_p95_errors_and_breakers_without_ansi_by_default() -> None:
    line = format_progress(view())
    assert line.startswith("[   10s/30s]")
    assert "requests 100 (10.0/s)" in line
    assert "in flight 3" in line
    assert "p95 <=0.25s" in line
    assert "errors 10 (10.0%)" in line
    assert "breakers database=disabled weather=open" in line
    assert NO_WORDS_ANSI not in line
    assert "\n" not in line


def test_users_are_a_dash_without_status_files_and_the_sum_over_target_with_them() -> None:
    assert "users -" in format_progress(view())
    status = LoadStatus(
        processes=3,
        locust_users=48,
        sessions_in_flight=40,
        requests_total=9,
        dropped_total=0,
        target_users=50,
    )
    assert "users 48/50" in format_progress(view(load=status))
    no_target = LoadStatus(3, 48, 40, 9, 0, None)
    assert "users 48 " in format_progress(view(load=no_target)) + " "


def test_the_line_names_the_stage_or_capacity_step_and_the_open_fault_windows() -> None:
    line = format_progress(
        view(
            stage=StagePosition("step", 2, 5, 100),
            faults=[ActiveWindow("weather", "crash", 3.4), ActiveWindow("db", "latency", None)],
        )
    )
    assert "step 2/5 (100 users)" in line
    assert "faults weather:crash (3s left), db:latency" in line
    assert "faults -" in format_progress(view())


def test_colours_only_when_asked() -> None:
    plain = format_progress(view(faults=[ActiveWindow("weather", "crash", 1.0)]))
    coloured = format_progress(view(faults=[ActiveWindow("weather", "crash", 1.0)]), color=True)
    assert NO_WORDS_ANSI not in plain
    assert "\033[31mweather=open\033[0m" in coloured
    assert coloured.replace("\033[31m", "").replace("\033[33m", "").replace("\033[0m", "") == plain


def test_progress_line_says_when_metrics_are_unavailable() -> None:
    line = format_progress(view(gateway=None, before=None))
    assert "gateway metrics unavailable" in line
    assert line.startswith("[   10s/30s] users -")


def test_no_rate_on_the_first_line() -> None:
    assert "(0.0/s)" in format_progress(view(dt_s=0.0))


def test_the_p95_of_an_empty_histogram_is_a_dash() -> None:
    empty = GatewaySnapshot(requests=0, errors=0, p95_s=None, in_progress=0)
    line = format_progress(view(gateway=empty, before=None))
    assert "p95 -" in line and "errors 0 (0.0%)" in line and "breakers -" in line


@pytest.mark.parametrize(
    ("elapsed_s", "expected"),
    [
        (0.0, StagePosition("stage", 1, 3, 10)),
        (9.99, StagePosition("stage", 1, 3, 10)),
        (10.0, StagePosition("stage", 2, 3, 50)),
        (34.0, StagePosition("stage", 3, 3, 5)),
        (99.0, StagePosition("stage", 3, 3, 5)),  # past the end: still the last stage
    ],
)
def test_stage_at_follows_the_stage_durations(elapsed_s: float, expected: StagePosition) -> None:
    load = LoadConfig(
        stages=[
            {"duration_s": 10, "users": 10},
            {"duration_s": 20, "users": 50},
            {"duration_s": 5, "users": 5},
        ]  # type: ignore[list-item]
    )
    assert stage_at(load, elapsed_s) == expected


def test_a_capacity_search_shows_its_step_and_a_single_stage_nothing() -> None:
    search = LoadConfig(
        capacity={"start_users": 10, "step_users": 10, "max_users": 40, "step_duration_s": 10, "settle_s": 2}  # type: ignore[arg-type]
    )
    assert stage_at(search, 25.0) == StagePosition("step", 3, 4, 30)
    assert stage_at(LoadConfig(users=5, duration_s=10), 3.0) is None
    assert (
        stage_at(
            LoadConfig(model="open", duration_s=10, open={"arrival_rate_per_s": 1, "max_sessions": 5}), 3.0
        )
        is None
    )  # type: ignore[arg-type]


def test_active_windows_are_those_open_at_that_offset_with_the_time_left() -> None:
    timeline = [
        TimelineEntry(at_s=2, for_s=3, target="weather", fault={"kind": "crash"}),
        TimelineEntry(at_s=4, target="db", fault={"kind": "latency", "delay_s": 1}),
    ]
    assert active_windows(timeline, 1.9) == []
    assert active_windows(timeline, 2.0) == [ActiveWindow("weather", "crash", 3.0)]
    assert active_windows(timeline, 4.5) == [
        ActiveWindow("weather", "crash", 0.5),
        ActiveWindow("db", "latency", None),
    ]
    assert active_windows(timeline, 5.0) == [ActiveWindow("db", "latency", None)]  # the end is exclusive

"""The summary document: verdict and exit code per run status, and the figures it carries."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports import build_summary, decide_verdict, evaluate_slas, load_run, render_run
from reports.sla import SlaResult

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]

T0 = 1_700_000_000.0
PASSED = SlaResult("a", "latency", True, 0.1, 1.0, "s", "")
FAILED = SlaResult("b", "error_rate", False, 0.2, 0.1, "ratio", "")


@pytest.mark.parametrize(
    ("status", "results", "expected"),
    [
        ("completed", [PASSED], ("pass", 0)),
        ("completed", [PASSED, FAILED], ("fail", 1)),
        ("completed", [], ("pass", 0)),
        ("unknown", [FAILED], ("fail", 1)),
        ("failed", [PASSED], ("error", 3)),
        ("interrupted", [PASSED], ("error", 3)),
        ("running", [FAILED], ("error", 3)),
    ],
)
def test_verdict_and_exit_code_follow_status_then_slas(
    status: str, results: list[SlaResult], expected: tuple[str, int]
) -> None:
    assert decide_verdict(status, results) == expected


@pytest.mark.parametrize(
    ("status", "verdict", "exit_code"),
    [("completed", "pass", 0), ("failed", "error", 3), ("interrupted", "error", 3), ("running", "error", 3)],
)
def test_summary_verdict_for_each_run_status_still_includes_the_slas(
    make_run: MakeRun, make_requests: MakeRequests, status: str, verdict: str, exit_code: int
) -> None:
    run_dir = make_run(status=status, reason="gateway exited", tables={"requests": make_requests(50)})
    run = load_run(run_dir)

    summary = build_summary(run, evaluate_slas(run.scenario["slas"], run.requests))

    assert (summary["status"], summary["verdict"], summary["exit_code"]) == (status, verdict, exit_code)
    assert [sla["passed"] for sla in summary["slas"]] == [True, True]


def test_missing_run_json_gives_status_unknown_and_the_sla_verdict(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    run = load_run(make_run(status=None, tables={"requests": make_requests(50, {"error": 10})}))

    summary = build_summary(run, evaluate_slas(run.scenario["slas"], run.requests))

    assert summary["status"] == "unknown"
    assert summary["run_id"] == "run"
    assert (summary["verdict"], summary["exit_code"]) == ("fail", 1)


def test_request_figures_cover_outcomes_duration_throughput_and_latency(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    rows = make_requests(100, {"error": 3, "dropped": 10})
    run = load_run(make_run(tables={"requests": rows}))

    requests = build_summary(run, [])["requests"]

    assert requests["total"] == 100
    assert requests["by_outcome"] == {"ok": 87, "error": 3, "timeout": 0, "dropped": 10}
    assert requests["duration_s"] == 10.0
    assert requests["throughput_rps"] == 9.0
    assert requests["error_rate"] == pytest.approx(3 / 90)
    latency = requests["latency_s"]
    assert latency["count"] == 90
    completed = sorted(row["latency_s"] for row in rows if row["outcome"] != "dropped")
    assert latency["max"] == completed[-1]
    assert latency["p50"] == completed[44]


def test_by_name_splits_requests_per_name(make_run: MakeRun, make_requests: MakeRequests) -> None:
    run = load_run(make_run(tables={"requests": make_requests(10, names=("turn", "health"))}))

    by_name = build_summary(run, [])["by_name"]

    assert sorted(by_name) == ["health", "turn"]
    assert by_name["turn"]["total"] == 5
    assert by_name["turn"]["latency_s"]["count"] == 5


def test_calls_are_counted_by_server_tool_and_outcome(make_run: MakeRun) -> None:
    calls = [
        {"t_start": T0, "latency_s": 0.1, "server": "weather", "tool": "forecast", "outcome": "ok"},
        {"t_start": T0, "latency_s": 0.3, "server": "weather", "tool": "forecast", "outcome": "ok"},
        {
            "t_start": T0,
            "latency_s": 0.0,
            "server": "weather",
            "tool": "forecast",
            "outcome": "rejected_open",
        },
    ]
    run = load_run(make_run(tables={"calls": calls}))

    summary = build_summary(run, [])["calls"]

    assert summary["total"] == 3
    assert summary["by_server_tool_outcome"] == [
        {
            "server": "weather",
            "tool": "forecast",
            "outcome": "ok",
            "count": 2,
            "p50_s": 0.1,
            "p95_s": 0.3,
            "max_s": 0.3,
        },
        {
            "server": "weather",
            "tool": "forecast",
            "outcome": "rejected_open",
            "count": 1,
            "p50_s": 0.0,
            "p95_s": 0.0,
            "max_s": 0.0,
        },
    ]


def test_breaker_transitions_are_time_ordered_relative_to_load_start_with_final_states(
    make_run: MakeRun,
) -> None:
    breaker = [
        {
            "t": T0 + 5.0,
            "server": "weather",
            "from_state": "open",
            "to_state": "half_open",
            "reason": "timeout",
        },
        {
            "t": T0 + 2.5,
            "server": "weather",
            "from_state": "closed",
            "to_state": "open",
            "reason": "5 failures",
        },
    ]
    calls = [{"t_start": T0, "latency_s": 0.1, "server": "files", "tool": "read", "outcome": "ok"}]
    run = load_run(make_run(tables={"breaker": breaker, "calls": calls}))

    summary = build_summary(run, [])["breaker"]

    assert [row["t_rel_s"] for row in summary["transitions"]] == [2.5, 5.0]
    assert summary["final_state"] == {"files": "closed", "weather": "half_open"}


def test_samples_give_mean_cpu_and_max_rss_per_process(make_run: MakeRun) -> None:
    samples = [
        {"t": T0 + i, "process": "gateway", "pid": 9, "cpu_percent": cpu, "rss_bytes": rss}
        for i, (cpu, rss) in enumerate([(10.0, 100), (30.0, 300), (20.0, 200)])
    ]
    run = load_run(make_run(tables={"samples": samples}))

    assert build_summary(run, [])["samples"] == {
        "gateway": {"count": 3, "cpu_percent_mean": 20.0, "rss_bytes_max": 300}
    }


def test_summary_is_strict_json_without_nan(make_run: MakeRun, make_requests: MakeRequests) -> None:
    run = load_run(make_run(tables={"requests": make_requests(5, {"dropped": 5})}))

    summary = build_summary(run, evaluate_slas(run.scenario["slas"], run.requests))

    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text)["requests"]["latency_s"]["p95"] is None


def test_unknown_outcomes_and_missing_latencies_are_warned_about(make_run: MakeRun) -> None:
    rows = [
        {"t_start": T0, "latency_s": 0.1, "name": "turn", "outcome": "weird"},
        {"t_start": T0, "latency_s": None, "name": "turn", "outcome": "ok"},
    ]
    run = load_run(make_run(tables={"requests": rows}))

    warnings = build_summary(run, [])["warnings"]

    assert any("unknown outcome 'weird'" in warning for warning in warnings)
    assert any("1 non-dropped row(s) have no latency_s" in warning for warning in warnings)


def test_rendered_summary_json_has_the_documented_top_level_keys(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    outcome = render_run(make_run(tables={"requests": make_requests(20)}))

    summary = json.loads(outcome.summary_path.read_text())
    assert list(summary) == [
        "schema_version",
        "run_id",
        "scenario",
        "status",
        "reason",
        "verdict",
        "exit_code",
        "verdict_reasons",
        "trustworthy",
        "t0",
        "slas",
        "requests",
        "availability",
        "error_budget",
        "percentiles",
        "by_name",
        "by_session_type",
        "calls",
        "final_metrics",
        "breaker",
        "breaker_checks",
        "breaker_config",
        "breaker_recovery",
        "faults",
        "locust",
        "samples",
        "warmup",
        "load_generator",
        "sessions",
        "capacity",
        "open_model",
        "warnings",
    ]
    assert summary["schema_version"] == 1
    assert summary["locust"] is None

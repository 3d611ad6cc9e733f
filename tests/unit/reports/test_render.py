"""Rendering report/: JUnit XML per SLA, the Markdown report, and Locust's figures beside ours."""

from __future__ import annotations

import stat
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports import render_run

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]

T0 = 1_700_000_000.0
SLAS = [
    {"name": "p95 under 1 s", "kind": "latency", "percentile": 95, "max_s": 1.0},
    {"name": "errors under 1%", "kind": "error_rate", "max_ratio": 0.01},
    {"name": "breaker opens", "kind": "breaker_opens_within", "max_s": 2.0},
]

LOCUST_CSV = """\
Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,\
Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,\
99.99%,100%
POST,turn,50,3,250,260.0,10,500,100.0,5.0,0.3,250,300,350,400,450,480,490,500,500,500,500
,Aggregated,50,3,250,260.0,10,500,100.0,5.0,0.3,250,300,350,400,450,480,490,500,500,500,500
"""


def _render(make_run: MakeRun, make_requests: MakeRequests, **kwargs: Any) -> Path:
    run_dir = make_run(slas=SLAS, tables={"requests": make_requests(100, {"error": 3})}, **kwargs)
    render_run(run_dir)
    return run_dir / "report"


def test_junit_has_one_testcase_per_sla_and_failures_only_on_failed_ones(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    report = _render(make_run, make_requests)

    root = ET.parse(report / "junit.xml").getroot()

    cases = root.findall("./testsuite/testcase")
    assert [case.get("name") for case in cases] == [sla["name"] for sla in SLAS]
    assert {case.get("classname") for case in cases} == {"chaosbench.sla"}
    failed = {case.get("name"): case.find("failure") for case in cases}
    assert failed["p95 under 1 s"] is None
    error_failure = failed["errors under 1%"]
    assert error_failure is not None
    assert error_failure.get("message") == "measured 3%, threshold <= 1%"
    assert failed["breaker opens"] is not None
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("3", "2")


def test_junit_properties_carry_the_run_status_and_verdict(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    report = _render(make_run, make_requests, status="interrupted", reason="SIGINT")

    root = ET.parse(report / "junit.xml").getroot()

    properties = {prop.get("name"): prop.get("value") for prop in root.iter("property")}
    assert properties["status"] == "interrupted"
    assert properties["verdict"] == "error"
    assert properties["exit_code"] == "3"


def test_junit_without_slas_is_valid_and_empty(make_run: MakeRun) -> None:
    run_dir = make_run(slas=[])

    outcome = render_run(run_dir)

    root = ET.parse(outcome.junit_path).getroot()
    assert root.findall(".//testcase") == []
    assert outcome.verdict == "pass"


def test_junit_survives_control_characters_in_sla_names(make_run: MakeRun) -> None:
    run_dir = make_run(slas=[{"name": "bell\x07 & <tag>", "kind": "error_rate", "max_ratio": 0.1}])

    outcome = render_run(run_dir)

    case = ET.parse(outcome.junit_path).getroot().find(".//testcase")
    assert case is not None
    assert case.get("name") == "bell\ufffd & <tag>"


def test_markdown_report_states_the_verdict_slas_and_what_happened(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    report = _render(make_run, make_requests)

    text = (report / "report.md").read_text()

    assert text.startswith("# chaosbench: smoke — FAIL\n")
    assert "| Run status | completed |" in text
    assert "| Load duration | 10 s |" in text
    assert "| errors under 1% | 3% | <= 1% | **FAIL** |" in text
    assert "| breaker opens | n/a | <= 2 s | **FAIL** | no fault window |" in text


def test_markdown_shows_locust_figures_beside_ours(make_run: MakeRun, make_requests: MakeRequests) -> None:
    report = _render(make_run, make_requests, locust_csv=LOCUST_CSV)

    text = (report / "report.md").read_text()

    assert "Locust p95" in text
    all_row = next(line for line in text.splitlines() if line.startswith("| (all) |"))
    assert all_row.endswith("| 50 | 250.0 ms | 480.0 ms | 500.0 ms |")


def test_markdown_lists_breaker_transitions_relative_to_load_start(make_run: MakeRun) -> None:
    breaker = [
        {"t": T0 + 2.5, "server": "weather", "from_state": "closed", "to_state": "open", "reason": "5 x"}
    ]

    outcome = render_run(make_run(tables={"breaker": breaker}))

    text = outcome.markdown_path.read_text()
    assert "| +2.500 s | weather | closed | open | 5 x |" in text
    assert "Final state: weather: open." in text


def test_markdown_escapes_pipes_in_names(make_run: MakeRun) -> None:
    rows = [{"t_start": T0, "latency_s": 0.1, "name": "a|b", "outcome": "ok"}]

    outcome = render_run(make_run(tables={"requests": rows}))

    assert "| a\\|b |" in outcome.markdown_path.read_text()


def test_unreadable_locust_csv_becomes_a_warning(make_run: MakeRun, make_requests: MakeRequests) -> None:
    report = _render(make_run, make_requests, locust_csv="not,a\nlocust,file\n")

    text = (report / "report.md").read_text()

    assert "## Warnings" in text
    assert "Locust statistics ignored" in text


def test_rendering_leaves_only_the_report_files_and_the_charts_it_has_data_for(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    report = _render(make_run, make_requests)  # requests only: no calls, breaker or samples charts

    assert sorted(path.name for path in report.iterdir()) == [
        "junit.xml",
        "latency_distribution.png",
        "latency_over_time.png",
        "pool_usage.png",
        "report.html",
        "report.md",
        "summary.json",
        "throughput_errors.png",
    ]


def test_report_files_get_ordinary_permissions(make_run: MakeRun, tmp_path: Path) -> None:
    probe = tmp_path / "probe"
    probe.write_text("")

    outcome = render_run(make_run())

    expected = stat.S_IMODE(probe.stat().st_mode)
    assert outcome.html_path is not None
    for path in (outcome.summary_path, outcome.markdown_path, outcome.junit_path, outcome.html_path):
        assert stat.S_IMODE(path.stat().st_mode) == expected

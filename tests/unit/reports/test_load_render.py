"""The load in the rendered report: warm-up cut, untrustworthy verdicts, open-model arrivals, old run dirs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reports import render_run
from reports.cli import main, verdict_block
from reports.render import JUNIT_GENERATOR_TESTCASE, JUNIT_LOAD_CLASSNAME

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]

T0 = 1_700_000_000.0
CLOSED_LOAD = {"users": 10, "spawn_rate": 10, "duration_s": 10}
ERRORS_UNDER_5 = [{"name": "errors under 5%", "kind": "error_rate", "max_ratio": 0.05}]


def locust_cpu(busy: int, total: int, process: str = "locust") -> list[dict[str, Any]]:
    """``total`` CPU samples of a Locust process, one every 0.3 s from the load start, ``busy`` at 95%."""
    return [
        {
            "t": T0 + i * 0.3,
            "process": process,
            "pid": 7,
            "cpu_percent": 95.0 if i < busy else 30.0,
            "rss_bytes": 1,
        }
        for i in range(total)
    ]


def test_the_warmup_is_left_out_of_the_slas_and_headline_figures(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    requests = make_requests(1000, {"error": 150})  # one every 10 ms; the first 150 fail, all in the warm-up
    run_dir = make_run(
        slas=ERRORS_UNDER_5,
        tables={"requests": requests},
        scenario={"load": {**CLOSED_LOAD, "warmup_s": 2}},
    )

    outcome = render_run(run_dir)

    summary = outcome.summary
    assert summary["warmup"]["requests_excluded"] == 200  # t_start < T0 + 2 s; the one at exactly 2 s counts
    assert summary["warmup"]["by_outcome"] == {"error": 150, "ok": 50}
    assert summary["requests"]["total"] == 800
    assert summary["requests"]["error_rate"] == 0.0
    assert (summary["requests"]["duration_s"], summary["requests"]["load_duration_s"]) == (8.0, 10.0)
    assert summary["requests"]["throughput_rps"] == 100.0
    assert summary["availability"] == 1.0
    assert summary["by_name"]["turn"]["total"] == 400
    assert summary["percentiles"]["hdr"]["run"]["count"] == 800
    assert (summary["verdict"], summary["slas"][0]["measured"]) == ("pass", 0.0)
    text = outcome.markdown_path.read_text()
    assert (
        "| Warm-up | first 2 s left out of the SLAs and figures: 200 request(s) (error 150, ok 50) |" in text
    )
    assert "| Load duration | 10 s (8 s measured after the warm-up) |" in text


def test_without_a_warmup_every_request_counts(make_run: MakeRun, make_requests: MakeRequests) -> None:
    run_dir = make_run(slas=ERRORS_UNDER_5, tables={"requests": make_requests(1000, {"error": 150})})

    summary = render_run(run_dir).summary

    assert summary["warmup"]["requests_excluded"] == 0
    assert summary["requests"]["total"] == 1000
    assert summary["verdict"] == "fail"


def _saturated_run(make_run: MakeRun, make_requests: MakeRequests, busy: int) -> Path:
    samples = locust_cpu(busy, 30) + [
        {"t": T0 + i, "process": "gateway", "pid": 8, "cpu_percent": 10.0, "rss_bytes": 1} for i in range(10)
    ]
    return make_run(
        slas=ERRORS_UNDER_5,
        tables={"requests": make_requests(200), "samples": samples},
        scenario={"load": CLOSED_LOAD},
        environment={"cpu_count": 4},
    )


def test_a_saturated_load_generator_fails_the_run_with_that_reason_first_everywhere(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    outcome = render_run(_saturated_run(make_run, make_requests, busy=4))  # 4 of 30 samples > 10%

    summary = outcome.summary
    assert (summary["verdict"], summary["exit_code"], summary["trustworthy"]) == ("fail", 1, False)
    assert all(sla["passed"] for sla in summary["slas"])
    reason = summary["verdict_reasons"][0]
    assert reason.startswith(
        "untrustworthy: the load generator was saturated (locust at >= 90% CPU in 4 of 30"
    )
    assert summary["load_generator"]["saturated"] is True
    assert summary["load_generator"]["processes"]["locust"]["busy_samples"] == 4

    lines = outcome.markdown_path.read_text().splitlines()
    assert lines[0] == "# chaosbench: smoke — FAIL"
    assert lines[2:5] == ["**Why FAIL:**", "", f"- {reason}"]

    assert outcome.html_path is not None
    page = outcome.html_path.read_text()
    header = page[page.index("<header") : page.index("</header>")]
    assert '<ul class="reasons">' in header and "untrustworthy: the load generator was saturated" in header

    cases = ET.parse(outcome.junit_path).getroot().findall("./testsuite/testcase")
    assert (cases[0].get("classname"), cases[0].get("name")) == (
        JUNIT_LOAD_CLASSNAME,
        JUNIT_GENERATOR_TESTCASE,
    )
    failure = cases[0].find("failure")
    assert failure is not None and failure.get("message") == reason
    assert [case.get("name") for case in cases[1:]] == ["errors under 5%"]

    assert verdict_block(outcome).splitlines()[1] == f"  FAIL  {reason}"


def test_a_generator_busy_in_exactly_ten_percent_of_samples_is_trusted(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    outcome = render_run(_saturated_run(make_run, make_requests, busy=3))  # 3 of 30: not more than 10%

    assert (outcome.verdict, outcome.summary["trustworthy"], outcome.summary["verdict_reasons"]) == (
        "pass",
        True,
        [],
    )
    case = ET.parse(outcome.junit_path).getroot().find("./testsuite/testcase")
    assert case is not None and case.get("name") == JUNIT_GENERATOR_TESTCASE and case.find("failure") is None
    assert "| Load generator | kept up: no Locust process" in outcome.markdown_path.read_text()


def test_the_cli_exits_1_for_an_untrustworthy_run(make_run: MakeRun, make_requests: MakeRequests) -> None:
    run_dir = _saturated_run(make_run, make_requests, busy=10)

    assert main(["render", "--quiet", str(run_dir)]) == 1


def test_a_busy_host_is_a_warning_not_a_failure(make_run: MakeRun, make_requests: MakeRequests) -> None:
    samples = [
        {"t": T0 + i, "process": name, "pid": pid, "cpu_percent": 99.0, "rss_bytes": 1}
        for i in range(10)
        for name, pid in (("gateway", 1), ("server-weather", 2))
    ] + locust_cpu(0, 30)
    run_dir = make_run(
        slas=ERRORS_UNDER_5,
        tables={"requests": make_requests(100), "samples": samples},
        environment={"cpu_count": 2},
    )

    summary = render_run(run_dir).summary

    assert summary["verdict"] == "pass"
    assert summary["load_generator"]["host"]["busy"] is True
    assert any(w.startswith("the host's CPU was >= 95% of its 2 core(s)") for w in summary["warnings"])


OPEN_LOAD = {"model": "open", "duration_s": 10, "open": {"arrival_rate_per_s": 2, "max_sessions": 5}}


def open_model_requests() -> list[dict[str, Any]]:
    """10 sessions of 3 turns each, 5 arrivals that found no free slot, 2 turns cut short at the end."""
    rows: list[dict[str, Any]] = []
    for session in range(10):
        for turn in range(3):
            start = T0 + session * 0.5 + turn * 0.2
            rows.append(
                {
                    "t_start": start,
                    "t_intended": start,
                    "latency_s": 0.1,
                    "session_id": f"s{session}",
                    "name": "turn",
                    "outcome": "ok",
                    "turn": turn + 1,
                    "drop_reason": "",
                }
            )
    for arrival in range(5):
        intended = T0 + 6 + arrival
        rows.append(
            {
                "t_start": intended + 0.001,
                "t_intended": intended,
                "latency_s": 0.0,
                "session_id": f"x{arrival}",
                "name": "turn",
                "outcome": "dropped",
                "turn": 1,
                "drop_reason": "not_started",
            }
        )
    rows += [
        {
            "t_start": T0 + 9.9,
            "t_intended": T0 + 9.9,
            "latency_s": None,
            "session_id": "s9",
            "name": "turn",
            "outcome": "dropped",
            "turn": 4,
            "drop_reason": "cut_short",
        }
        for _ in range(2)
    ]
    return rows


def test_open_model_arrivals_and_drops_are_counted(make_run: MakeRun) -> None:
    slas = [{"name": "errors incl. drops", "kind": "error_rate", "max_ratio": 0.1, "include_dropped": True}]
    run_dir = make_run(slas=slas, tables={"requests": open_model_requests()}, scenario={"load": OPEN_LOAD})

    outcome = render_run(run_dir)

    summary = outcome.summary
    open_model = summary["open_model"]
    assert (open_model["arrivals"], open_model["started_sessions"], open_model["not_started"]) == (15, 10, 5)
    assert open_model["not_started_ratio"] == 5 / 15
    assert (open_model["arrival_rate_per_s"], open_model["planned_arrival_rate_per_s"]) == (1.5, 2)
    assert summary["requests"]["dropped_by_reason"] == {"cut_short": 2, "not_started": 5}
    assert summary["requests"]["latency_s"]["count"] == 30  # not_started rows (latency 0) are no latency
    assert summary["requests"]["latency_s"]["min"] == 0.1
    assert summary["slas"][0]["measured"] == 5 / 35 and summary["verdict"] == "fail"
    text = outcome.markdown_path.read_text()
    assert (
        "| Arrivals | 15 arrivals after the warm-up, 5 could not start (all 5 sessions busy): 33.3%" in text
    )
    assert "dropped: cut_short 2, not_started 5" in text


def test_a_closed_run_has_no_open_model_block(make_run: MakeRun, make_requests: MakeRequests) -> None:
    summary = render_run(make_run(tables={"requests": make_requests(20)})).summary

    assert summary["open_model"] is None
    assert summary["capacity"] is None


def test_an_old_run_directory_without_the_new_columns_renders_with_clear_failures(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    slas = [
        {"name": "held", "kind": "sessions_held", "min_sessions": 5},
        {"name": "errors incl. drops", "kind": "error_rate", "max_ratio": 0.5, "include_dropped": True},
        {"name": "available", "kind": "availability", "min_ratio": 0.5},
    ]
    samples = [
        {"t": T0 + i, "process": "locust", "pid": 3, "cpu_percent": 20.0, "rss_bytes": 1} for i in range(10)
    ]
    run_dir = make_run(slas=slas, tables={"requests": make_requests(100, {"dropped": 4}), "samples": samples})

    outcome = render_run(run_dir)

    by_name = {sla["name"]: sla for sla in outcome.summary["slas"]}
    assert by_name["held"]["passed"] is False
    assert by_name["held"]["detail"].startswith("no data: no Locust session samples")
    assert by_name["errors incl. drops"]["detail"].startswith(
        "no data: 4 dropped request(s) but no drop_reason"
    )
    assert by_name["available"]["passed"] is True
    assert outcome.summary["sessions"]["min_after_ramp_up"] is None
    assert outcome.summary["load_generator"]["saturated"] is False
    assert json.loads(outcome.summary_path.read_text())["verdict"] == "fail"


def test_the_verdict_block_prints_thresholds_the_right_way_round(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    slas = [{"name": "available", "kind": "availability", "min_ratio": 0.9}]
    outcome = render_run(make_run(slas=slas, tables={"requests": make_requests(100, {"error": 5})}))

    assert "  PASS  available: 95% (threshold >= 90%)" in verdict_block(outcome).splitlines()

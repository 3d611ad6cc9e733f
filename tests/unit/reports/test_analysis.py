"""summary.json's added figures: percentiles by window/server/tool, HDR per worker, correction,
availability, error budget, breaker checks (in the verdict, the report and JUnit)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reports import render_run
from reports.analysis import availability, error_budget
from reports.hdr import HdrHistogram
from reports.load import load_run
from reports.summary import build_summary

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]
T0 = 1_700_000_000.0


def calls_and_transitions(bad: bool = False) -> dict[str, list[dict[str, Any]]]:
    def call(t: float, outcome: str, state: str) -> dict[str, Any]:
        return {
            "t_start": T0 + t,
            "latency_s": 0.01,
            "request_id": f"r{t}",
            "server": "weather",
            "tool": "get_forecast",
            "attempt": 1,
            "outcome": outcome,
            "breaker_state": state,
            "error": "",
        }

    calls = [call(t / 10, "ok", "closed") for t in range(20)]
    calls += [call(3.0 + t / 10, "transport_error", "closed") for t in range(5)]
    calls += [call(4.0, "ok" if bad else "rejected_open", "open")]
    breaker = [
        {
            "t": T0 + 3.41,
            "server": "weather",
            "from_state": "closed",
            "to_state": "open",
            "reason": "5 failures",
        }
    ]
    return {"calls": calls, "breaker": breaker}


def test_percentile_figures_by_window_server_tool_and_worker(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    rows = make_requests(300)
    for index, row in enumerate(rows):
        row["worker"] = f"w{index % 3}"
    run = load_run(make_run(tables={"requests": rows, **calls_and_transitions()}))

    summary = build_summary(run, [])

    figures = summary["percentiles"]
    assert figures["by_window"]["window_s"] == 1.0
    assert sum(w["count"] for w in figures["by_window"]["windows"]) == 300
    assert [row["server"] for row in figures["by_server"]] == ["weather"]
    assert (
        figures["by_server_tool"][0]["tool"] == "get_forecast" and figures["by_server_tool"][0]["count"] == 25
    )
    hdr = figures["hdr"]
    assert sorted(hdr["by_worker"]) == ["w0", "w1", "w2"]
    merged = HdrHistogram.merged(HdrHistogram.decode(w["encoded"]) for w in hdr["by_worker"].values())
    assert np.array_equal(merged.counts, HdrHistogram.decode(hdr["run"]["encoded"]).counts)
    exact = summary["requests"]["latency_s"]["p95"]
    assert hdr["run"]["p95"] == pytest.approx(exact, rel=2**-10, abs=1e-6)
    assert summary["requests"]["latency_corrected_s"]["count"] >= 300
    assert figures["coordinated_omission"]["model"] == "closed"


def test_availability_and_error_budget() -> None:
    requests = pd.DataFrame(
        {"outcome": ["ok"] * 95 + ["error"] * 3 + ["timeout"] * 2 + ["dropped"] * 7, "name": "turn"}
    )
    slas = [{"name": "errors under 10%", "kind": "error_rate", "max_ratio": 0.1}]

    budget = error_budget(slas, requests)

    assert availability(requests) == 0.95
    assert budget is not None
    assert budget["error_rate"] == pytest.approx(0.05) and budget["consumed"] == pytest.approx(0.5)
    assert budget["remaining"] == pytest.approx(0.5) and budget["exhausted"] is False
    assert error_budget([], requests) is None


def test_a_failed_breaker_check_fails_the_run_and_is_a_junit_failure(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    outcome = render_run(
        make_run(slas=[], tables={"requests": make_requests(50), **calls_and_transitions(bad=True)})
    )

    assert (outcome.verdict, outcome.exit_code) == ("fail", 1)
    checks = {c["name"]: c for c in outcome.summary["breaker_checks"]}
    assert not checks["no_calls_while_open"]["passed"]
    assert checks["no_calls_while_open"]["violations"][0]["t_rel_s"] == pytest.approx(4.0)
    cases = ET.parse(outcome.junit_path).getroot().findall(".//testcase[@classname='chaosbench.breaker']")
    assert len(cases) == len(checks)
    failed = [case for case in cases if case.find("failure") is not None]
    assert [case.get("name") for case in failed] == ["weather: no_calls_while_open"]
    failure = failed[0].find("failure")
    assert failure is not None and "+4.000 s" in (failure.text or "")
    text = outcome.markdown_path.read_text()
    assert "## Breaker checks" in text and "| weather | `no_calls_while_open` | **FAIL** |" in text


def test_a_correct_breaker_passes_and_reports_its_checks(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    outcome = render_run(make_run(slas=[], tables={"requests": make_requests(50), **calls_and_transitions()}))

    assert outcome.verdict == "pass"
    assert all(c["passed"] for c in outcome.summary["breaker_checks"])
    text = outcome.markdown_path.read_text()
    assert "### Latency corrected for coordinated omission" in text
    assert "| Availability |" in text

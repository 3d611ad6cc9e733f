"""Capacity search: step windows, per-step SLAs, capacity, broke_at, knee, the verdict and the report."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports import render_run
from reports.capacity import StepResult, analyse_capacity, knee_index
from reports.load_plan import load_plan
from reports.render import JUNIT_CAPACITY_TESTCASE
from reports.tables import TABLES, conform

MakeRun = Callable[..., Path]

T0 = 1_700_000_000.0
STEP_S = 10.0
SETTLE_S = 2.0
CAPACITY = {
    "start_users": 10,
    "step_users": 10,
    "max_users": 50,
    "step_duration_s": STEP_S,
    "settle_s": SETTLE_S,
}
SLAS = [
    {"name": "p95 under 200 ms", "kind": "latency", "percentile": 95, "max_s": 0.2},
    {"name": "errors under 2%", "kind": "error_rate", "max_ratio": 0.02},
    {"name": "breaker opens", "kind": "breaker_opens_within", "max_s": 1.0},
]


def step_requests(step: int, rps: float, latency_s: float, error_every: int = 0) -> list[dict[str, Any]]:
    """``rps`` requests a second of ``latency_s`` over the whole of step ``step``; every
    ``error_every``-th one fails (none when 0)."""
    count = int(rps * STEP_S)
    rows = []
    for i in range(count):
        start = T0 + step * STEP_S + i / rps
        outcome = "error" if error_every and i % error_every == 0 else "ok"
        rows.append(
            {
                "t_start": start,
                "t_intended": start,
                "latency_s": latency_s,
                "session_id": f"s{i % 10}",
                "name": "turn",
                "outcome": outcome,
                "status": 200 if outcome == "ok" else 502,
                "worker": "w1",
                "request_id": f"{step}-{i}",
            }
        )
    return rows


def steps_requests(shape: Sequence[tuple[float, float, int]]) -> list[dict[str, Any]]:
    return [
        row
        for step, (rps, latency, errors) in enumerate(shape)
        for row in step_requests(step, rps, latency, errors)
    ]


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    result, _ = conform(pd.DataFrame.from_records(rows), TABLES["requests"], "requests")
    return result


def cpu(busy_steps: Sequence[int], steps: int = 5) -> pd.DataFrame:
    """Locust CPU samples every second; 99% in the given steps, 20% otherwise."""
    rows = [
        {
            "t": T0 + second + 0.5,
            "process": "locust-w1",
            "pid": 1,
            "cpu_percent": 99.0 if int(second // STEP_S) in busy_steps else 20.0,
            "rss_bytes": 1,
        }
        for second in range(int(steps * STEP_S))
    ]
    return pd.DataFrame(rows)


PLAN = load_plan({"load": {"spawn_rate": 100, "capacity": CAPACITY}})
# rps, latency, error_every per step: throughput grows up to 30 users, then flattens while latency climbs;
# the p95 SLA (200 ms) breaks at 50 users.
SHAPE = [(50, 0.05, 0), (100, 0.05, 0), (150, 0.06, 0), (155, 0.15, 0), (155, 0.40, 0)]


def _capacity_run(
    make_run: MakeRun, shape: Sequence[tuple[float, float, int]], busy_steps: Sequence[int] = ()
) -> Path:
    return make_run(
        slas=SLAS[:2],
        tables={"requests": steps_requests(shape), "samples": cpu(busy_steps).to_dict("records")},
        scenario={"load": {"spawn_rate": 100, "capacity": CAPACITY}},
        run_info={"load_t_end": T0 + 50},
    )


def test_each_step_is_measured_from_its_settle_time_to_its_end() -> None:
    result = analyse_capacity(frame(steps_requests(SHAPE)), cpu([]), PLAN, SLAS, T0, T0 + 50)

    first, second = result.steps[0], result.steps[1]
    assert (first.t_start, first.t_end) == (T0 + SETTLE_S, T0 + STEP_S)
    assert (second.t_start, second.t_end) == (T0 + STEP_S + SETTLE_S, T0 + 2 * STEP_S)
    assert first.requests == 400  # 8 s of 50 req/s
    assert first.rps == 50.0
    assert (first.p50_s, first.p95_s, first.p99_s, first.error_rate) == (0.05, 0.05, 0.05, 0.0)
    assert [step.users for step in result.steps] == [10, 20, 30, 40, 50]


def test_the_capacity_is_the_last_step_before_the_first_that_broke() -> None:
    shape = [*SHAPE[:3], (155, 0.15, 20), (155, 0.10, 0)]  # step 4 breaks on 5% errors, step 5 would hold

    result = analyse_capacity(frame(steps_requests(shape)), cpu([]), PLAN, SLAS, T0, T0 + 50)

    assert [step.held for step in result.steps] == [True, True, True, False, True]
    assert result.steps[3].failed_slas == ["errors under 2%"]
    assert (result.capacity_users, result.steps[result.broke_index or 0].users) == (30, 40)
    block = result.to_dict(T0)
    assert (block["capacity_users"], block["capacity_rps"], block["broke_at_users"]) == (30, 150.0, 40)
    assert block["steps"][0]["t_start_rel_s"] == SETTLE_S
    assert result.reasons() == []


def test_a_search_that_never_broke_reports_the_largest_step_as_a_lower_bound() -> None:
    shape = [(50 * (i + 1), 0.05, 0) for i in range(5)]

    result = analyse_capacity(frame(steps_requests(shape)), cpu([]), PLAN, SLAS, T0, T0 + 50)

    assert (result.capacity_users, result.broke_index, result.knee) == (50, None, None)
    assert "no step broke an SLA, so the capacity is at least this" in result.describe()


def test_a_first_step_that_broke_leaves_no_capacity_and_fails() -> None:
    shape = [(50, 0.5, 0), *SHAPE[1:]]

    result = analyse_capacity(frame(steps_requests(shape)), cpu([]), PLAN, SLAS, T0, T0 + 50)

    assert (result.capacity_users, result.broke_index, result.first_step_broke) == (None, 0, True)
    assert result.reasons() == ["no capacity: the first step (10 users) already broke 'p95 under 200 ms'"]


def test_a_step_without_requests_broke_its_slas_and_steps_after_the_load_end_were_not_played() -> None:
    shape = [SHAPE[0], (0.0, 0.05, 0), SHAPE[2]]

    result = analyse_capacity(frame(steps_requests(shape)), cpu([]), PLAN, SLAS, T0, T0 + 25)

    assert [step.played for step in result.steps] == [True, True, True, False, False]
    assert result.steps[1].held is False and result.steps[1].rps == 0.0
    assert result.steps[2].t_end == T0 + 25  # cut at the load end
    assert result.capacity_users == 10


def test_the_warmup_delays_a_steps_window() -> None:
    plan = load_plan({"load": {"spawn_rate": 100, "warmup_s": 5, "capacity": CAPACITY}})

    result = analyse_capacity(frame(steps_requests(SHAPE)), cpu([]), plan, SLAS, T0, T0 + 50)

    assert result.steps[0].t_start == T0 + 5
    assert result.steps[1].t_start == T0 + STEP_S + SETTLE_S


def test_without_step_slas_every_step_holds_and_the_report_says_so() -> None:
    slas = [SLAS[2]]

    result = analyse_capacity(frame(steps_requests(SHAPE)), cpu([]), PLAN, slas, T0, T0 + 50)

    assert all(step.held for step in result.steps) and result.slas_checked == 0
    assert "no latency, error_rate or availability SLA, so no step could break" in result.describe()


def _step(index: int, rps: float | None, p95: float | None, played: bool = True) -> StepResult:
    return StepResult(index, 10 * (index + 1), 0.0, 1.0, played, rps=rps, p95_s=p95)


def test_the_knee_is_the_step_before_the_costliest_latency_per_throughput_gain() -> None:
    steps = [
        _step(0, 100, 0.10),
        _step(1, 200, 0.11),  # +10% p95 for +100% rps: cost 0.1
        _step(2, 280, 0.20),  # +82% for +40%: cost 2.05
        _step(3, 290, 0.40),  # +100% for +3.6%: cost 28
        _step(4, 289, 0.60),  # +50% for -0.3%, counted as +1%: cost 50, the costliest: the knee is step 3
    ]

    assert knee_index(steps) == 3


def test_no_knee_when_latency_grows_no_faster_than_throughput() -> None:
    steps = [_step(0, 100, 0.10), _step(1, 200, 0.15), _step(2, 300, 0.20)]  # costs 0.5, 0.67

    assert knee_index(steps) is None


def test_the_knee_skips_pairs_with_a_step_that_was_not_played_or_has_no_data() -> None:
    steps = [_step(0, 100, 0.10), _step(1, 0, None), _step(2, 120, 0.5), _step(3, 100, 1.0, played=False)]

    assert knee_index(steps) is None


@pytest.mark.parametrize(
    ("busy_steps", "trustworthy", "verdict"),
    [
        ([], True, "pass"),
        ([4], True, "pass"),  # saturated only above the capacity (40 users): a warning
        ([3], False, "fail"),  # at the capacity: the capacity may be the generator's
        ([0], False, "fail"),
    ],
)
def test_the_generator_counts_only_at_or_below_the_capacity(
    make_run: MakeRun, busy_steps: list[int], trustworthy: bool, verdict: str
) -> None:
    run_dir = _capacity_run(make_run, SHAPE, busy_steps)

    summary = render_run(run_dir).summary

    assert summary["capacity"]["capacity_users"] == 40
    assert (summary["trustworthy"], summary["verdict"]) == (trustworthy, verdict)
    if not trustworthy:
        assert summary["verdict_reasons"][0].startswith("untrustworthy: the load generator was saturated at ")
    if busy_steps == [4]:
        assert any("saturated from 50 users, above the capacity found" in w for w in summary["warnings"])


def test_a_capacity_run_passes_with_the_capacity_stated_in_every_output(make_run: MakeRun) -> None:
    outcome = render_run(_capacity_run(make_run, SHAPE))

    summary = outcome.summary
    capacity = summary["capacity"]
    assert (capacity["capacity_users"], capacity["broke_at_users"], capacity["knee_users"]) == (40, 50, 40)
    assert (summary["verdict"], summary["exit_code"]) == ("pass", 0)
    p95 = summary["slas"][0]
    assert p95["passed"] and p95["measured"] == 0.15
    assert p95["detail"].startswith("at the capacity step (40 users): ")

    text = outcome.markdown_path.read_text()
    assert (
        "## Capacity\n\ncapacity 40 users (155.0 req/s); the SLAs broke at 50 users; knee at 40 users."
        in text
    )
    assert (
        "| 50 | +42.000 s | +50.000 s | 1240 | 155.0 | 400.0 ms | 400.0 ms | 400.0 ms | 0% | NO | p95 under 200 ms |"
        in text
    )
    assert "![Capacity](capacity.png)" in text
    assert (outcome.summary_path.parent / "capacity.png").is_file()

    assert outcome.html_path is not None
    page = outcome.html_path.read_text()
    section = page[page.index('<section id="capacity">') :]
    section = section[: section.index("</section>")]
    assert '<figure id="chart-capacity">' in section and "data:image/png;base64," in section
    assert "knee at 40 users" in section

    root = ET.parse(outcome.junit_path).getroot()
    properties = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert (properties["capacity_users"], properties["broke_at_users"], properties["knee_users"]) == (
        "40",
        "50",
        "40",
    )
    case = next(c for c in root.iter("testcase") if c.get("name") == JUNIT_CAPACITY_TESTCASE)
    assert case.find("failure") is None


def test_a_capacity_run_whose_first_step_broke_fails_everywhere(make_run: MakeRun) -> None:
    outcome = render_run(_capacity_run(make_run, [(50, 0.5, 0), *SHAPE[1:]]))

    summary = outcome.summary
    assert (summary["verdict"], summary["exit_code"], summary["capacity"]["capacity_users"]) == (
        "fail",
        1,
        None,
    )
    assert (
        summary["verdict_reasons"][0]
        == "no capacity: the first step (10 users) already broke 'p95 under 200 ms'"
    )
    assert summary["slas"][0]["detail"].startswith("at the first step (10 users): ")
    case = next(
        c
        for c in ET.parse(outcome.junit_path).getroot().iter("testcase")
        if c.get("name") == JUNIT_CAPACITY_TESTCASE
    )
    failure = case.find("failure")
    assert failure is not None and failure.get("message", "").startswith("no capacity:")
    assert outcome.markdown_path.read_text().splitlines()[2] == "**Why FAIL:**"


def test_a_warmup_longer_than_the_first_step_makes_the_second_the_first_measured() -> None:
    plan = load_plan({"load": {"spawn_rate": 100, "warmup_s": 12, "capacity": CAPACITY}})
    shape = [SHAPE[0], (100, 0.5, 0), *SHAPE[2:]]  # the first measured step breaks

    result = analyse_capacity(frame(steps_requests(shape)), cpu([]), plan, SLAS, T0, T0 + 50)

    assert [step.played for step in result.steps] == [False, True, True, True, True]
    assert result.steps[1].t_start == T0 + 12
    assert (result.capacity_users, result.first_step_broke) == (None, True)
    assert result.reasons() == ["no capacity: the first step (20 users) already broke 'p95 under 200 ms'"]


def test_a_search_with_no_measured_step_fails() -> None:
    result = analyse_capacity(frame(steps_requests(SHAPE)), cpu([]), PLAN, SLAS, T0, T0 + 1.0)

    assert not any(step.played for step in result.steps)
    assert result.capacity_users is None
    assert result.reasons() == [
        "no capacity: no step of the search was measured (the load ended before the first step's settle time was over)"
    ]
    assert result.describe() == "no step of the search was played"

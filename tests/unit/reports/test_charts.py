"""PNG charts: each one written at its fixed size from a synthetic run, or skipped when there is no data."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest

from reports import charts, load_run
from reports.charts import CHART_SIZE_PX, CHARTS, render_charts
from reports.load import RunData

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]

T0 = 1_700_000_000.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ChartFunction = Callable[..., Path | None]
CHART_FUNCTIONS: dict[str, ChartFunction] = {
    "latency_over_time": charts.latency_over_time,
    "throughput_errors": charts.throughput_errors,
    "breaker_states": charts.breaker_states,
    "pool_usage": charts.pool_usage,
    "cpu_per_process": charts.cpu_per_process,
    "latency_distribution": charts.latency_distribution,
    "sessions_over_time": charts.sessions_over_time,
    "capacity": charts.capacity_chart,
}
CAPACITY_LOAD = {
    "capacity": {
        "start_users": 10,
        "step_users": 10,
        "max_users": 30,
        "step_duration_s": 1.5,
        "settle_s": 0.25,
    }
}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def every_table(
    make_requests: MakeRequests, servers: tuple[str, ...] = ("weather", "database")
) -> dict[str, Any]:
    """A run with something in every table: requests, calls, breaker transitions, faults, samples."""
    requests = make_requests(400, {"error": 20, "timeout": 5, "dropped": 3})
    calls = [
        {
            "t_start": T0 + i * 0.01,
            "latency_s": 0.02,
            "request_id": f"r{i}",
            "server": servers[i % len(servers)],
            "tool": "get_forecast",
            "attempt": 1,
            "outcome": "ok",
            "breaker_state": "closed",
        }
        for i in range(200)
    ]
    breaker = [
        {
            "t": T0 + 1.0,
            "server": servers[0],
            "from_state": "closed",
            "to_state": "open",
            "reason": "3 failures",
        },
        {
            "t": T0 + 2.0,
            "server": servers[0],
            "from_state": "open",
            "to_state": "half_open",
            "reason": "timer",
        },
        {
            "t": T0 + 2.1,
            "server": servers[0],
            "from_state": "half_open",
            "to_state": "closed",
            "reason": "probe ok",
        },
    ]
    faults = [
        {"t_start": T0 + 0.8, "t_end": T0 + 2.0, "target": servers[0], "kind": "crash", "params": "{}"},
        {"t_start": T0 - 5, "t_end": T0 + 60, "target": servers[-1], "kind": "latency", "params": "{}"},
    ]
    samples = [
        {
            "t": T0 + second,
            "process": process,
            "pid": pid,
            "cpu_percent": 10.0 + second,
            "rss_bytes": 50_000_000 + second * 1000,
            **(
                {"agent_in_progress": float(second % 4), "agent_requests_total": 10.0 * second}
                if pid == 2
                else {}
            ),
        }
        for second in range(10)
        for process, pid in (("orchestrator", 1), ("gateway", 2), (f"server-{servers[0]}", 3))
    ]
    samples += [  # the Locust process's own rows: no CPU, session gauges and the shape's target
        {
            "t": T0 + second + 0.5,
            "process": "locust-local",
            "worker": "local",
            "locust_users": 10 * (1 + second // 2),
            "sessions_in_flight": 10 * (1 + second // 2) - 1,
            "target_users": 10 * (1 + second // 2),
            "stage": second // 2,
        }
        for second in range(10)
    ]
    return {"requests": requests, "calls": calls, "breaker": breaker, "faults": faults, "samples": samples}


@pytest.fixture
def full_run(make_run: MakeRun, make_requests: MakeRequests) -> RunData:
    return load_run(make_run(tables=every_table(make_requests), scenario={"load": CAPACITY_LOAD}))


@pytest.fixture
def empty_run(make_run: MakeRun) -> RunData:
    return load_run(make_run())


@pytest.mark.parametrize("name", sorted(CHART_FUNCTIONS))
def test_each_chart_writes_a_png_of_the_fixed_size(full_run: RunData, tmp_path: Path, name: str) -> None:
    path = CHART_FUNCTIONS[name](full_run, tmp_path)

    assert path == tmp_path / f"{name}.png"
    assert png_size(path) == CHART_SIZE_PX


@pytest.mark.parametrize("name", sorted(CHART_FUNCTIONS))
def test_each_chart_is_skipped_and_a_stale_file_removed_when_there_is_no_data(
    empty_run: RunData, tmp_path: Path, name: str
) -> None:
    stale = tmp_path / f"{name}.png"
    stale.write_bytes(PNG_SIGNATURE)

    assert CHART_FUNCTIONS[name](empty_run, tmp_path) is None
    assert not stale.exists()


def test_every_chart_function_is_listed_with_a_title() -> None:
    assert set(CHARTS) == set(CHART_FUNCTIONS)
    assert all(CHARTS.values())


def test_breaker_chart_draws_servers_seen_only_in_calls_as_closed(make_run: MakeRun, tmp_path: Path) -> None:
    calls = [{"t_start": T0, "latency_s": 0.1, "server": "weather", "tool": "t", "outcome": "ok"}]
    run = load_run(make_run(tables={"calls": calls}))

    path = charts.breaker_states(run, tmp_path)

    assert path is not None and png_size(path) == CHART_SIZE_PX


def test_pool_chart_without_gauges_plots_requests_in_flight(
    make_run: MakeRun, make_requests: MakeRequests, tmp_path: Path
) -> None:
    run = load_run(make_run(tables={"requests": make_requests(50)}))

    assert charts.pool_usage(run, tmp_path) is not None


def test_latency_distribution_overlays_a_corrected_series(full_run: RunData, tmp_path: Path) -> None:
    raw_only = charts.latency_distribution(full_run, tmp_path / "raw")
    corrected = np.linspace(0.05, 3.0, 200)

    both = charts.latency_distribution(full_run, tmp_path / "both", corrected_latency_s=corrected)

    assert raw_only is not None and both is not None
    assert png_size(both) == CHART_SIZE_PX
    assert both.read_bytes() != raw_only.read_bytes()


def test_run_supplied_text_is_never_parsed_as_mathtext(
    make_run: MakeRun, make_requests: MakeRequests, tmp_path: Path
) -> None:
    tables = every_table(make_requests, servers=(r"$\frac{a$", "$x^2$"))
    run = load_run(make_run(tables=tables, scenario={"load": CAPACITY_LOAD}))

    outcome = render_charts(run, tmp_path)

    assert outcome.warnings == []
    assert [chart.name for chart in outcome.files] == list(CHARTS)


def test_render_charts_draws_all_of_them_in_report_order(full_run: RunData, tmp_path: Path) -> None:
    outcome = render_charts(full_run, tmp_path / "report")

    assert [chart.name for chart in outcome.files] == list(CHARTS)
    assert [chart.title for chart in outcome.files] == list(CHARTS.values())
    assert all(png_size(chart.path) == CHART_SIZE_PX for chart in outcome.files)
    assert not list((tmp_path / "report").glob(".*.tmp"))


def test_a_failing_chart_becomes_a_warning_and_the_others_are_still_drawn(
    full_run: RunData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Path | None:
        raise ValueError("no good")

    monkeypatch.setattr(charts, "throughput_errors", broken)
    (tmp_path / "throughput_errors.png").write_bytes(PNG_SIGNATURE)  # from an earlier rendering

    outcome = render_charts(full_run, tmp_path)

    assert outcome.warnings == ["chart throughput_errors.png not drawn: ValueError: no good"]
    assert "throughput_errors" not in [chart.name for chart in outcome.files]
    assert len(outcome.files) == len(CHARTS) - 1
    assert not (tmp_path / "throughput_errors.png").exists()
    assert "warning: chart throughput_errors.png not drawn" in capsys.readouterr().err


def test_charts_use_agg_without_changing_pyplots_backend(full_run: RunData, tmp_path: Path) -> None:
    before = matplotlib.get_backend()

    render_charts(full_run, tmp_path)

    assert matplotlib.get_backend() == before


def test_the_reports_package_never_imports_pyplot() -> None:
    code = "import sys, reports.render, reports.charts; print('matplotlib.pyplot' in sys.modules)"

    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )

    assert done.stdout.strip() == "False"


def test_the_same_run_gives_the_same_pngs(full_run: RunData, tmp_path: Path) -> None:
    first = render_charts(full_run, tmp_path / "a")
    second = render_charts(full_run, tmp_path / "b")

    assert [c.path.read_bytes() for c in first.files] == [c.path.read_bytes() for c in second.files]


def test_latency_distribution_marks_the_summarys_corrected_percentiles_when_they_differ(
    full_run: RunData, tmp_path: Path
) -> None:
    raw = {"p50": 0.1, "p90": 0.2, "p95": 0.3, "p99": 0.4}
    same = {"requests": {"latency_s": raw, "latency_corrected_s": dict(raw)}}
    different = {"requests": {"latency_s": raw, "latency_corrected_s": {**raw, "p95": 1.5, "p99": 2.5}}}

    plain = charts.latency_distribution(full_run, tmp_path / "plain")
    unchanged = charts.latency_distribution(full_run, tmp_path / "same", summary=same)
    marked = charts.latency_distribution(full_run, tmp_path / "marked", summary=different)

    assert plain is not None and unchanged is not None and marked is not None
    assert unchanged.read_bytes() == plain.read_bytes()
    assert marked.read_bytes() != plain.read_bytes()

"""report.html opened in a real browser (Debian's headless Chromium), with no network at all.

The page must load offline, every chart image must decode and paint, and the
browser console must stay clean. A control page proves the check can fail:
the same harness sees a console error, an uncaught exception and a request
for a remote image. Skipped when ``/usr/bin/chromium`` is not installed
(``make chromium`` installs it; ``make test`` does so first when run as root,
as CI does).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from reports import render_run

from .chromium import CHROMIUM, open_offline

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="Debian's chromium is not installed (/usr/bin/chromium): `make chromium` installs it as root",
    ),
]

T0 = 1_700_000_000.0


def write_run(run_dir: Path, *, status: str = "completed", with_events: bool = True) -> Path:
    """A run directory with something in every event table (or none), as `chaosbench run` leaves it."""
    rng = random.Random(7)
    events = run_dir / "events"
    events.mkdir(parents=True)
    scenario = {
        "version": 1,
        "name": "chromium <check> & co",
        "slas": [
            {"name": "p95 under 300 ms", "kind": "latency", "percentile": 95, "max_s": 0.3},
            {"name": "errors under 5%", "kind": "error_rate", "max_ratio": 0.05},
        ],
    }
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    run_info = {
        "run_id": run_dir.name,
        "status": status,
        "reason": None if status == "completed" else "gateway exited with code 1",
        "t_start": T0 - 2,
        "t_end": T0 + 22,
        "load_t_start": T0,
        "load_t_end": T0 + 20,
    }
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    if not with_events:
        return run_dir
    requests: list[dict[str, Any]] = []
    for i in range(600):
        start = T0 + i / 30
        in_fault = 8 <= start - T0 < 12
        outcome = "error" if in_fault and rng.random() < 0.7 else "ok"
        requests.append(
            {
                "t_start": start,
                "t_intended": start,
                "latency_s": rng.uniform(0.005, 0.02)
                if outcome == "error"
                else rng.lognormvariate(-2.5, 0.5),
                "session_id": f"s{i % 20}",
                "name": "agent_turn",
                "outcome": outcome,
                "status": 200 if outcome == "ok" else 503,
                "worker": "local",
                "request_id": f"r{i}",
            }
        )
    calls = [
        {
            "t_start": row["t_start"] + 0.001,
            "latency_s": row["latency_s"] / 2,
            "request_id": row["request_id"],
            "server": server,
            "tool": "get_forecast",
            "attempt": 1,
            "outcome": "ok" if row["outcome"] == "ok" else "rejected_open",
            "breaker_state": "closed",
        }
        for row in requests
        for server in ("weather", "database")
    ]
    breaker = [
        {
            "t": T0 + 8.2,
            "server": "weather",
            "from_state": "closed",
            "to_state": "open",
            "reason": "3 failures",
        },
        {
            "t": T0 + 10.2,
            "server": "weather",
            "from_state": "open",
            "to_state": "half_open",
            "reason": "timer",
        },
        {
            "t": T0 + 10.3,
            "server": "weather",
            "from_state": "half_open",
            "to_state": "open",
            "reason": "probe",
        },
        {
            "t": T0 + 12.3,
            "server": "weather",
            "from_state": "open",
            "to_state": "half_open",
            "reason": "timer",
        },
        {
            "t": T0 + 12.4,
            "server": "weather",
            "from_state": "half_open",
            "to_state": "closed",
            "reason": "ok",
        },
    ]
    faults = [{"t_start": T0 + 8, "t_end": T0 + 12, "target": "weather", "kind": "crash", "params": "{}"}]
    samples = [
        {
            "t": T0 + second,
            "process": process,
            "pid": pid,
            "cpu_percent": rng.uniform(1, 40),
            "rss_bytes": 60_000_000 + second * 100_000,
            **({"agent_in_progress": rng.randint(0, 8)} if process == "gateway" else {}),
        }
        for second in range(21)
        for process, pid in (("gateway", 10), ("server-weather", 11), ("locust", 12))
    ]
    tables: dict[str, list[dict[str, Any]]] = {
        "requests": requests,
        "calls": calls,
        "breaker": breaker,
        "faults": faults,
        "samples": samples,
    }
    for table, rows in tables.items():
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (events / f"{table}.test.jsonl").write_text(text, encoding="utf-8")
    return run_dir


def test_the_report_opens_offline_with_every_chart_painted_and_a_clean_console(tmp_path: Path) -> None:
    outcome = render_run(write_run(tmp_path / "run"))
    assert outcome.html_path is not None
    charts = sorted(outcome.html_path.parent.glob("*.png"))
    assert len(charts) == 6

    seen = open_offline(outcome.html_path, tmp_path / "profile")

    assert seen.errors == []
    assert seen.requests == []
    assert seen.title == "chaosbench: chromium <check> & co — FAIL"
    assert len(seen.images) == len(charts)
    for image in seen.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert image["decoded"] and image["complete"], image
        assert (image["width"], image["height"]) == (1000, 500), image
        assert image["colors"] > 50, f"the chart looks blank on screen: {image}"


def write_capacity_run(run_dir: Path) -> Path:
    """A capacity search of 4 steps with Locust session samples and a saturated last step."""
    rng = random.Random(11)
    events = run_dir / "events"
    events.mkdir(parents=True)
    scenario = {
        "version": 1,
        "name": "capacity",
        "load": {
            "spawn_rate": 100,
            "capacity": {
                "start_users": 20,
                "step_users": 20,
                "max_users": 80,
                "step_duration_s": 10,
                "settle_s": 2,
            },
        },
        "slas": [
            {"name": "p95 under 250 ms", "kind": "latency", "percentile": 95, "max_s": 0.25},
            {"name": "available", "kind": "availability", "min_ratio": 0.99},
            {"name": "held 15", "kind": "sessions_held", "min_sessions": 15},
        ],
    }
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    run_info = {"run_id": run_dir.name, "status": "completed", "load_t_start": T0, "load_t_end": T0 + 40}
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
    (run_dir / "environment.json").write_text(json.dumps({"cpu_count": 2}), encoding="utf-8")
    requests: list[dict[str, Any]] = []
    samples: list[dict[str, Any]] = []
    for step, users in enumerate((20, 40, 60, 80)):
        rps, scale = min(users, 55) * 2.0, 0.05 * max(1.0, users / 45) ** 3
        for i in range(int(rps * 10)):
            start = T0 + step * 10 + i / rps
            requests.append(
                {
                    "t_start": start,
                    "t_intended": start,
                    "latency_s": rng.lognormvariate(0, 0.3) * scale,
                    "session_id": f"s{i % users}",
                    "name": "agent_turn",
                    "outcome": "ok",
                    "status": 200,
                    "worker": "w1",
                    "request_id": f"{step}-{i}",
                }
            )
        for second in range(10):
            t = T0 + step * 10 + second + 0.4
            samples.append(
                {
                    "t": t,
                    "process": "locust-w1",
                    "pid": 5,
                    "cpu_percent": 97.0 if step == 3 else 35.0,
                    "rss_bytes": 80_000_000,
                }
            )
            samples.append(
                {
                    "t": t,
                    "process": "locust-w1",
                    "worker": "w1",
                    "locust_users": users,
                    "sessions_in_flight": users - 1,
                    "stage": step,
                }
            )
            samples.append(
                {"t": t, "process": "locust-master", "worker": "master", "target_users": users, "stage": step}
            )
    for table, rows in (("requests", requests), ("samples", samples)):
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (events / f"{table}.test.jsonl").write_text(text, encoding="utf-8")
    return run_dir


def test_a_capacity_report_shows_its_chart_in_the_capacity_section_and_opens_cleanly(tmp_path: Path) -> None:
    outcome = render_run(write_capacity_run(tmp_path / "run"))
    assert outcome.html_path is not None
    assert outcome.summary["capacity"]["capacity_users"] == 60
    names = sorted(path.stem for path in outcome.html_path.parent.glob("*.png"))
    assert "capacity" in names and "sessions_over_time" in names

    seen = open_offline(outcome.html_path, tmp_path / "profile")

    assert seen.errors == []
    assert seen.requests == []
    assert seen.title == "chaosbench: capacity — PASS"
    assert len(seen.images) == len(names)
    for image in seen.images:
        assert image["decoded"] and image["complete"], image
        assert (image["width"], image["height"]) == (1000, 500), image
        assert image["colors"] > 50, f"the chart looks blank on screen: {image}"
    page = outcome.html_path.read_text()
    capacity = page[page.index('<section id="capacity">') :]
    assert capacity.index('<figure id="chart-capacity">') < capacity.index("</section>")


def test_a_report_without_charts_opens_cleanly_too(tmp_path: Path) -> None:
    outcome = render_run(write_run(tmp_path / "run", status="failed", with_events=False))
    assert outcome.html_path is not None

    seen = open_offline(outcome.html_path, tmp_path / "profile")

    assert (seen.errors, seen.requests, seen.images) == ([], [], [])
    assert seen.title.endswith("— ERROR")


def test_the_check_sees_console_errors_exceptions_and_network_use(tmp_path: Path) -> None:
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>bad</title></head><body>'
        '<img src="http://example.invalid/chart.png">'
        '<script>console.error("from the page"); throw new Error("thrown by the page");</script>'
        "</body></html>",
        encoding="utf-8",
    )

    seen = open_offline(page, tmp_path / "profile")

    assert seen.requests == ["http://example.invalid/chart.png"]
    assert "console.error: from the page" in seen.errors
    assert any(error.startswith("uncaught: Error: thrown by the page") for error in seen.errors)
    assert any("Failed to load resource" in error for error in seen.errors)
    assert [image["decoded"] for image in seen.images] == [False]

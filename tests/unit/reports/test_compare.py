"""Comparing runs: differences with bootstrap intervals, which are real, the files and the exit codes."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports.cli import main
from reports.compare import compare_runs

MakeRun = Callable[..., Path]
T0 = 1_700_000_000.0


def requests(count: int, latency: float, errors: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        outcome = "error" if index < errors else "ok"
        rows.append(
            {
                "t_start": T0 + index * 10.0 / count,
                "t_intended": T0 + index * 10.0 / count,
                "latency_s": rng.uniform(0.5, 1.5) * latency,
                "session_id": f"s{index % 20}",
                "name": "turn",
                "outcome": outcome,
                "status": 200,
                "worker": "local",
                "request_id": f"r{index}",
            }
        )
    rng.shuffle(rows)
    return rows


def metric(document: dict[str, Any], name: str, run: int = 0) -> dict[str, Any]:
    return next(m for m in document["comparisons"][run]["metrics"] if m["metric"] == name)


def test_a_slower_run_differs_really_in_latency_and_not_in_errors(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(2000, 0.1, 20, seed=1)})
    slow = make_run("slow", tables={"requests": requests(2000, 0.2, 20, seed=2)})

    document, _ = compare_runs([base, slow], resamples=500)

    p95 = metric(document, "p95_s")
    assert p95["diff"] == pytest.approx(0.14, rel=0.1)
    assert p95["real"] and p95["ci_low"] > 0
    assert not metric(document, "error_rate")["real"]
    assert metric(document, "error_rate")["diff"] == 0


def test_the_same_run_twice_has_no_real_difference(make_run: MakeRun) -> None:
    rows = requests(1000, 0.1, 50, seed=3)
    a = make_run("a", tables={"requests": rows})
    b = make_run("b", tables={"requests": rows})

    document, _ = compare_runs([a, b], resamples=500)

    assert [m["metric"] for m in document["comparisons"][0]["metrics"] if m["real"]] == []
    assert all(m["diff"] == 0 for m in document["comparisons"][0]["metrics"])


def test_more_errors_is_a_real_difference_in_error_rate_and_availability(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(2000, 0.1, 20, seed=4)})
    worse = make_run("worse", tables={"requests": requests(2000, 0.1, 200, seed=4)})

    document, _ = compare_runs([base, worse], resamples=500)

    assert metric(document, "error_rate")["real"] and metric(document, "error_rate")["diff"] == pytest.approx(
        0.09
    )
    assert metric(document, "availability")["real"] and metric(document, "availability")["ci_high"] < 0


def test_the_bootstrap_is_seeded(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(500, 0.1, 5, seed=5)})
    other = make_run("other", tables={"requests": requests(500, 0.12, 9, seed=6)})

    first, _ = compare_runs([base, other], resamples=200, seed=9)
    again, _ = compare_runs([base, other], resamples=200, seed=9)

    assert first == again


def test_every_run_is_compared_with_the_first(make_run: MakeRun) -> None:
    runs = [make_run(f"r{i}", tables={"requests": requests(300, 0.1 * (i + 1), 0, seed=i)}) for i in range(3)]

    document, _ = compare_runs(runs, resamples=100)

    assert document["baseline"]["run_id"].endswith("r0")
    assert [c["run_id"] for c in document["comparisons"]] == [
        document["runs"][1]["run_id"],
        document["runs"][2]["run_id"],
    ]


def test_the_cli_writes_json_markdown_and_a_chart(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_run("base", tables={"requests": requests(500, 0.1, 5, seed=7)})
    other = make_run("other", tables={"requests": requests(500, 0.3, 5, seed=8)})
    out = tmp_path / "cmp"

    code = main(["compare", str(base), str(other), "--out", str(out), "--resamples", "200"])

    assert code == 0
    document = json.loads((out / "compare.json").read_text())
    assert metric(document, "p50_s")["real"]
    text = (out / "compare.md").read_text()
    assert "| p50_s |" in text and "**yes**" in text
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    assert "real differences: p50_s" in capsys.readouterr().out


def test_the_cli_needs_two_runs_and_real_run_directories(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(50, 0.1, 0, seed=1)})

    assert main(["compare", str(base), "--out", str(tmp_path / "x")]) == 2
    assert main(["compare", str(base), str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
    assert main(["compare"]) == 2


def test_the_warmup_is_left_out_of_the_compared_figures(make_run: MakeRun) -> None:
    warm = {"load": {"users": 5, "duration_s": 10, "warmup_s": 2}}
    base = make_run("base", tables={"requests": requests(1000, 0.1, 0, seed=1)}, scenario=warm)
    cold_start = make_run("cold", tables={"requests": requests(1000, 0.1, 200, seed=1)}, scenario=warm)

    document, _ = compare_runs([base, cold_start], resamples=200)

    assert [run["requests"] for run in document["runs"]] == [
        800,
        800,
    ]  # the 200 errors were all in the warm-up
    assert metric(document, "error_rate")["diff"] == 0
    assert metric(document, "throughput_rps")["diff"] == 0

"""Comparing runs: figures as in the report, deltas and directions, real differences, the call,
mismatched scenarios, untrustworthy runs, missing input, gates and the files written."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports.cli import default_compare_dir, main
from reports.compare import compare_runs
from reports.errors import NoEventsError, NotARunDirError
from reports.render import render_run

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


def saturated_samples() -> list[dict[str, Any]]:
    """A Locust process busy (>= 90% of a core) in every sample of the load: saturated."""
    return [
        {"t": T0 + i, "process": "locust-local", "pid": 7, "cpu_percent": 97.0, "rss_bytes": 1}
        for i in range(10)
    ]


def metric(document: dict[str, Any], name: str, run: int = 0) -> dict[str, Any]:
    return next(m for m in document["comparisons"][run]["metrics"] if m["metric"] == name)


def test_the_figures_are_the_reports_own(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(999, 0.1, 7, seed=1)})
    other = make_run("other", tables={"requests": requests(1001, 0.2, 3, seed=2)})

    document, _ = compare_runs([base, other], resamples=100)

    for run_dir, facts in zip((base, other), document["runs"], strict=True):
        summary = render_run(run_dir).summary
        figures = facts["figures"]
        assert figures["p50_s"] == summary["requests"]["latency_s"]["p50"]
        assert figures["p95_s"] == summary["requests"]["latency_s"]["p95"]
        assert figures["p99_s"] == summary["requests"]["latency_s"]["p99"]
        assert figures["throughput_rps"] == summary["requests"]["throughput_rps"]
        assert figures["error_rate"] == summary["requests"]["error_rate"]
        assert figures["availability"] == summary["availability"]
        assert figures["requests"] == summary["requests"]["total"]
        assert facts["verdict"] == summary["verdict"]
        assert [(s["name"], s["passed"], s["measured"]) for s in facts["slas"]] == [
            (s["name"], s["passed"], s["measured"]) for s in summary["slas"]
        ]


def test_a_slower_run_is_really_worse_in_latency_with_absolute_and_relative_deltas(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(2000, 0.1, 20, seed=1)})
    slow = make_run("slow", tables={"requests": requests(2000, 0.2, 20, seed=2)})

    document, _ = compare_runs([base, slow], resamples=500)

    p95 = metric(document, "p95_s")
    assert p95["diff"] == pytest.approx(p95["value"] - p95["baseline"])
    assert p95["relative"] == pytest.approx(p95["diff"] / p95["baseline"])
    assert p95["diff"] == pytest.approx(0.14, rel=0.1)
    assert (p95["better"], p95["change"], p95["real"]) == ("lower", "worse", True)
    assert p95["ci_low"] > 0
    errors = metric(document, "error_rate")
    assert (errors["diff"], errors["change"], errors["real"]) == (0, "same", False)
    comparison = document["comparisons"][0]
    assert comparison["call"] == "worse"
    assert "p95_s" in comparison["worse"] and comparison["better"] == []


def test_higher_is_better_for_availability_and_throughput(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(2000, 0.1, 200, seed=4)})
    fewer_errors = make_run("fixed", tables={"requests": requests(2000, 0.1, 20, seed=4)})

    document, _ = compare_runs([base, fewer_errors], resamples=500)

    availability = metric(document, "availability")
    assert availability["better"] == "higher"
    assert availability["diff"] == pytest.approx(0.09)
    assert (availability["change"], availability["real"]) == ("better", True)
    errors = metric(document, "error_rate")
    assert (errors["change"], errors["real"]) == ("better", True)
    assert document["comparisons"][0]["call"] == "better"
    assert metric(document, "throughput_rps")["better"] == "higher"
    assert metric(document, "users")["better"] is None and metric(document, "users")["change"] is None


def test_the_same_run_twice_has_no_real_difference(make_run: MakeRun) -> None:
    rows = requests(1000, 0.1, 50, seed=3)
    a = make_run("a", tables={"requests": rows})
    b = make_run("b", tables={"requests": rows})

    document, _ = compare_runs([a, b], resamples=500)

    comparison = document["comparisons"][0]
    assert [m["metric"] for m in comparison["metrics"] if m["real"]] == []
    assert comparison["call"] == "no real difference"
    assert all(m["change"] in ("same", None) for m in comparison["metrics"])
    assert comparison["config"] == [] and document["warnings"] == []


def test_the_bootstrap_is_seeded(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(500, 0.1, 5, seed=5)})
    other = make_run("other", tables={"requests": requests(500, 0.12, 9, seed=6)})

    first, _ = compare_runs([base, other], resamples=200, seed=9)
    again, _ = compare_runs([base, other], resamples=200, seed=9)

    assert first == again


def test_every_run_is_compared_with_the_first(make_run: MakeRun) -> None:
    runs = [make_run(f"r{i}", tables={"requests": requests(300, 0.1 * (i + 1), 0, seed=i)}) for i in range(3)]

    document, _ = compare_runs(runs, resamples=100)

    assert document["baseline"] == document["runs"][0]["run_id"]
    assert [c["run_id"] for c in document["comparisons"]] == [r["run_id"] for r in document["runs"][1:]]
    assert [c["label"] for c in document["comparisons"]] == ["run 2", "run 3"]
    assert metric(document, "p50_s", 1)["baseline"] == document["runs"][0]["figures"]["p50_s"]


def test_runs_of_different_scenarios_compare_with_a_warning(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(300, 0.1, 0, seed=1)})
    other = make_run("other", tables={"requests": requests(300, 0.1, 0, seed=2)}, scenario={"name": "soak"})

    document, _ = compare_runs([base, other], resamples=100)

    assert [r["scenario"] for r in document["runs"]] == ["smoke", "soak"]
    assert any("different scenarios" in w and "run 2: soak" in w for w in document["warnings"])
    assert {"key": "name", "baseline": "smoke", "value": "soak"} in document["comparisons"][0]["config"]


def test_the_profile_and_the_changed_settings_are_shown(make_run: MakeRun) -> None:
    pool = {"system": {"manager": {"pool": {"size": 1}}}}
    base = make_run("base", tables={"requests": requests(300, 0.1, 0, seed=1)}, scenario=pool)
    bigger = {"profile": "pool_4", "system": {"manager": {"pool": {"size": 4}}}}
    other = make_run(
        "other",
        tables={"requests": requests(300, 0.1, 0, seed=2)},
        scenario=bigger,
        run_info={"profile": "pool_4"},
    )

    document, _ = compare_runs([base, other], resamples=100)

    assert [r["profile"] for r in document["runs"]] == [None, "pool_4"]
    assert [r["label"] for r in document["runs"]] == ["run 1", "run 2 (pool_4)"]
    assert document["comparisons"][0]["config"] == [
        {"key": "profile", "baseline": None, "value": "pool_4"},
        {"key": "system.manager.pool.size", "baseline": 1, "value": 4},
    ]


def test_an_untrustworthy_run_is_marked_and_never_called_better(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(2000, 0.2, 0, seed=1)})
    saturated = make_run(
        "sat", tables={"requests": requests(2000, 0.1, 0, seed=2), "samples": saturated_samples()}
    )

    document, _ = compare_runs([base, saturated], resamples=200)

    assert [r["trustworthy"] for r in document["runs"]] == [True, False]
    assert document["runs"][1]["generator_saturated"] is True
    assert document["comparisons"][0]["call"] == "untrustworthy"
    assert metric(document, "p95_s")["change"] == "better"  # the figure itself is still shown
    assert any("run 2 is untrustworthy" in w for w in document["warnings"])


def test_breaker_opens_are_counted_and_fewer_is_better(make_run: MakeRun) -> None:
    def opens(count: int) -> list[dict[str, Any]]:
        rows = []
        for i in range(count):
            rows.append(
                {
                    "t": T0 + 2 * i,
                    "server": "weather",
                    "from_state": "closed",
                    "to_state": "open",
                    "reason": "x",
                }
            )
            rows.append(
                {
                    "t": T0 + 2 * i + 1,
                    "server": "weather",
                    "from_state": "open",
                    "to_state": "half_open",
                    "reason": "y",
                }
            )
        return rows

    base = make_run("base", tables={"requests": requests(300, 0.1, 0, seed=1), "breaker": opens(3)})
    other = make_run("other", tables={"requests": requests(300, 0.1, 0, seed=1), "breaker": opens(1)})

    document, _ = compare_runs([base, other], resamples=100)

    row = metric(document, "breaker_opens")
    assert (row["baseline"], row["value"], row["diff"], row["change"]) == (3, 1, -2, "better")
    assert row["real"] is None  # no interval for counts of events


def test_a_directory_that_is_not_a_run_is_named_in_the_error(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(50, 0.1, 0, seed=1)})
    (tmp_path / "empty").mkdir()

    with pytest.raises(NotARunDirError, match=r"empty: not a run directory: scenario.yaml is missing"):
        compare_runs([base, tmp_path / "empty"], resamples=100)


def test_a_run_without_request_events_is_bad_input_naming_the_path(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(50, 0.1, 0, seed=1)})
    hollow = make_run("hollow", tables={})

    with pytest.raises(NoEventsError) as raised:
        compare_runs([base, hollow], resamples=100)

    assert str(hollow) in str(raised.value) and "no requests events" in str(raised.value)


def test_the_cli_prints_the_tables_and_writes_json_markdown_and_a_chart(
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
    assert "## run 2 vs run 1: WORSE" in text
    assert "| p50 latency |" in text and "| worse |" in text
    assert (out / "compare.png").read_bytes().startswith(b"\x89PNG")
    printed = capsys.readouterr().out
    assert (
        "run 2 vs run 1: WORSE (really better: none; really worse: p50 latency, p95 latency, p99 latency"
        in printed
    )
    assert "p95 under 1 s" in printed  # the SLA table
    assert printed.rstrip().splitlines()[-1] == f"compare: {out}"


def test_the_default_output_is_a_new_timestamped_directory_beside_the_first_run(tmp_path: Path) -> None:
    first = tmp_path / "runs" / "20240501-120000-smoke"
    first.mkdir(parents=True)
    (tmp_path / "runs" / "compare-20231114-221320").mkdir()

    chosen = default_compare_dir(first, 1_700_000_000.0)

    assert chosen == (tmp_path / "runs" / "compare-20231114-221320-2").resolve()


@pytest.mark.parametrize(
    ("gate", "code"),
    [("p95:150", 0), ("p95:50", 1), ("p50:10", 1), ("error_rate:10", 0), ("rps:10", 0)],
)
def test_fail_if_worse_exits_one_only_past_its_limit(
    make_run: MakeRun, tmp_path: Path, gate: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_run("base", tables={"requests": requests(1000, 0.1, 5, seed=1)})
    slower = make_run("slow", tables={"requests": requests(1000, 0.2, 5, seed=2)})  # latency about doubled

    exit_code = main(
        ["compare", str(base), str(slower), "--out", str(tmp_path / "o"), "--fail-if-worse", gate]
    )

    assert exit_code == code
    document = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert document["gates_passed"] is (code == 0)
    assert "Gates (--fail-if-worse)" in capsys.readouterr().out


def test_a_gate_over_an_untrustworthy_run_fails_closed(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(500, 0.2, 0, seed=1)})
    saturated = make_run(
        "sat", tables={"requests": requests(500, 0.1, 0, seed=2), "samples": saturated_samples()}
    )

    assert (
        main(
            ["compare", str(base), str(saturated), "--out", str(tmp_path / "o"), "--fail-if-worse", "p95:10"]
        )
        == 1
    )
    gate = json.loads((tmp_path / "o" / "compare.json").read_text())["gates"][0]["results"][0]
    assert not gate["passed"] and "untrustworthy" in gate["detail"]


def test_a_baseline_of_zero_errors_fails_any_error_gate_once_errors_appear(
    make_run: MakeRun, tmp_path: Path
) -> None:
    base = make_run("base", tables={"requests": requests(500, 0.1, 0, seed=1)})
    errors = make_run("errors", tables={"requests": requests(500, 0.1, 1, seed=1)})

    assert (
        main(
            [
                "compare",
                str(base),
                str(errors),
                "--out",
                str(tmp_path / "o"),
                "--fail-if-worse",
                "errors:1000",
            ]
        )
        == 1
    )
    assert (
        main(["compare", str(base), str(base), "--out", str(tmp_path / "p"), "--fail-if-worse", "errors:0"])
        == 0
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("p95", "expected METRIC:PCT"),
        ("latency:10", "unknown metric 'latency'"),
        ("users:10", "users has no better direction"),
        ("p95:ten", "PCT must be a number"),
        ("p95:-1", "PCT must be a number >= 0"),
    ],
)
def test_a_bad_gate_is_bad_input(
    make_run: MakeRun, tmp_path: Path, spec: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_run("base", tables={"requests": requests(50, 0.1, 0, seed=1)})

    assert main(["compare", str(base), str(base), "--out", str(tmp_path / "o"), "--fail-if-worse", spec]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_the_cli_needs_two_real_runs_with_events(
    make_run: MakeRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = make_run("base", tables={"requests": requests(50, 0.1, 0, seed=1)})
    hollow = make_run("hollow", tables={})

    assert main(["compare", str(base), "--out", str(tmp_path / "x")]) == 2
    assert "give at least two run directories" in capsys.readouterr().err
    assert main(["compare", str(base), str(tmp_path / "missing"), "--out", str(tmp_path / "y")]) == 2
    assert f"{tmp_path / 'missing'}: not a run directory: no such directory" in capsys.readouterr().err
    assert main(["compare", str(base), str(hollow), "--out", str(tmp_path / "z")]) == 2
    assert f"{hollow}: no requests events" in capsys.readouterr().err
    assert main(["compare"]) == 2


def test_the_warmup_is_left_out_of_the_compared_figures(make_run: MakeRun) -> None:
    warm = {"load": {"users": 5, "duration_s": 10, "warmup_s": 2}}
    base = make_run("base", tables={"requests": requests(1000, 0.1, 0, seed=1)}, scenario=warm)
    cold_start = make_run("cold", tables={"requests": requests(1000, 0.1, 200, seed=1)}, scenario=warm)

    document, _ = compare_runs([base, cold_start], resamples=200)

    assert [run["figures"]["requests"] for run in document["runs"]] == [
        800,
        800,
    ]  # the errors were in the warm-up
    assert metric(document, "error_rate")["diff"] == 0
    assert metric(document, "throughput_rps")["diff"] == 0

"""``chaosbench compare`` in a subprocess, through the harness's CLI: help, files and exit codes."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

MakeRun = Callable[..., Path]
T0 = 1_700_000_000.0


def chaosbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def requests(count: int, latency: float, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "t_start": T0 + i * 10.0 / count,
            "t_intended": T0 + i * 10.0 / count,
            "latency_s": rng.uniform(0.5, 1.5) * latency,
            "session_id": f"s{i % 10}",
            "name": "turn",
            "outcome": "ok",
            "status": 200,
            "worker": "local",
        }
        for i in range(count)
    ]


def test_help_says_what_it_compares_and_its_exit_codes() -> None:
    done = chaosbench("compare", "--help")

    assert done.returncode == 0
    assert done.stdout.startswith("usage: chaosbench compare")
    for words in (
        "--fail-if-worse METRIC:PCT",
        "the first is the baseline",
        "compare-<UTC timestamp>",
        "exit codes",
    ):
        assert words in done.stdout


def test_exit_zero_prints_the_tables_and_the_output_directory_beside_the_first_run(make_run: MakeRun) -> None:
    base = make_run("base", tables={"requests": requests(300, 0.1, 1)})
    other = make_run("other", tables={"requests": requests(300, 0.3, 2)})

    done = chaosbench("compare", str(base), str(other), "--resamples", "100")

    assert done.returncode == 0, done.stderr
    last = done.stdout.rstrip().splitlines()[-1]
    assert last.startswith(f"compare: {base.parent.resolve()}/compare-")
    out = Path(last.removeprefix("compare: "))
    assert {p.name for p in out.iterdir()} == {"compare.json", "compare.md", "compare.png"}
    assert json.loads((out / "compare.json").read_text())["comparisons"][0]["call"] == "worse"
    assert "run 2 vs run 1: WORSE" in done.stdout


def test_exit_one_when_a_gate_fails(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(300, 0.1, 1)})
    slower = make_run("slower", tables={"requests": requests(300, 0.3, 2)})

    done = chaosbench(
        "compare", str(base), str(slower), "--out", str(tmp_path / "o"), "--fail-if-worse", "p95:10"
    )

    assert done.returncode == 1
    assert "FAIL    p95 latency worse by" in done.stdout


def test_exit_two_names_the_path_that_is_not_a_run(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(30, 0.1, 1)})
    stray = tmp_path / "stray"
    stray.mkdir()

    done = chaosbench("compare", str(base), str(stray), "--out", str(tmp_path / "o"))

    assert done.returncode == 2
    assert f"chaosbench compare: error: {stray}: not a run directory: scenario.yaml is missing" in done.stderr
    assert not (tmp_path / "o").exists()


def test_exit_two_names_the_run_without_events(make_run: MakeRun, tmp_path: Path) -> None:
    base = make_run("base", tables={"requests": requests(30, 0.1, 1)})
    hollow = make_run("hollow")

    done = chaosbench("compare", str(base), str(hollow), "--out", str(tmp_path / "o"))

    assert done.returncode == 2
    assert f"{hollow}: no requests events" in done.stderr


def test_exit_two_for_a_single_run(make_run: MakeRun) -> None:
    done = chaosbench("compare", str(make_run("base", tables={"requests": requests(30, 0.1, 1)})))

    assert done.returncode == 2
    assert "give at least two run directories" in done.stderr

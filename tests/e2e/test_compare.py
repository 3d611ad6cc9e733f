"""``chaosbench compare`` over two real runs of scenarios/smoke.yaml played with different settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SMOKE = REPO / "scenarios" / "smoke.yaml"
SHORT = [
    "--set", "load.users=5", "--set", "load.spawn_rate=5", "--set", "load.duration_s=5", "--set", "load.warmup_s=1",
]  # fmt: skip


def chaosbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=240, check=False
    )


def test_two_tunings_of_smoke_compare_side_by_side(tmp_path: Path) -> None:
    # The candidate is smoke.yaml with a profile (pool of 2 sessions) and a slower simulated LLM:
    # 30 ms before each of a turn's 2 tool calls, so each of its requests takes at least 60 ms more.
    tuned = yaml.safe_load(SMOKE.read_text())
    tuned["profiles"] = {"pool_2": {"system.manager.pool.size": 2}}
    tuned_path = tmp_path / "smoke.yaml"
    tuned_path.write_text(yaml.safe_dump(tuned), encoding="utf-8")
    out = tmp_path / "runs"

    baseline = chaosbench("run", str(SMOKE), *SHORT, "--out", str(out / "a"))
    candidate = chaosbench(
        "run", str(tuned_path), "--profile", "pool_2", *SHORT,
        "--set", "system.agent.llm_latency_s=0.03", "--out", str(out / "b"),
    )  # fmt: skip
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    assert candidate.returncode == 0, candidate.stdout + candidate.stderr
    (base_dir,) = (out / "a").iterdir()
    (cand_dir,) = (out / "b").iterdir()
    assert json.loads((cand_dir / "run.json").read_text())["profile"] == "pool_2"
    assert json.loads((base_dir / "run.json").read_text())["profile"] is None

    done = chaosbench(
        "compare",
        str(base_dir),
        str(cand_dir),
        "--out",
        str(tmp_path / "cmp"),
        "--fail-if-worse",
        "p50:100000",
    )

    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert [run["scenario"] for run in document["runs"]] == ["smoke", "smoke"]
    assert [run["profile"] for run in document["runs"]] == [None, "pool_2"]
    assert document["warnings"] == []
    changed = {row["key"]: (row["baseline"], row["value"]) for row in document["comparisons"][0]["config"]}
    assert changed["system.manager.pool.size"] == (1, 2)
    assert changed["system.agent.llm_latency_s"] == (0.0, 0.03)
    for run_dir, facts in zip((base_dir, cand_dir), document["runs"], strict=True):
        summary = json.loads((run_dir / "report" / "summary.json").read_text())
        assert facts["figures"]["p95_s"] == summary["requests"]["latency_s"]["p95"]
        assert facts["figures"]["requests"] == summary["requests"]["total"] > 0
        assert facts["verdict"] == summary["verdict"] == "pass"
    assert document["runs"][1]["figures"]["p50_s"] >= 0.06  # two waits of 30 ms in every turn
    assert "run 2 (pool_2) vs run 1" in done.stdout and "p95 latency under 1 s" in done.stdout
    assert (tmp_path / "cmp" / "compare.md").read_text().startswith("# chaosbench compare: 2 runs")
    assert (tmp_path / "cmp" / "compare.png").read_bytes().startswith(b"\x89PNG")

    not_a_run = chaosbench("compare", str(base_dir), str(tmp_path / "cmp"), "--out", str(tmp_path / "cmp2"))
    assert not_a_run.returncode == 2
    assert f"{tmp_path / 'cmp'}: not a run directory: scenario.yaml is missing" in not_a_run.stderr

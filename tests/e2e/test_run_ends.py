"""How a run ends: a process killed mid-run, SIGINT at random moments. Each end leaves a run
directory whose run.json says what happened, a report, and no process behind."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_run import assert_no_leaks, chaosbench, run_dir_of, scenario

pytestmark = pytest.mark.e2e

#: Seconds to wait for a run to reach a point (requests recorded, a process listed).
REACH_S = 90.0


def wait_for(predicate: Any, proc: subprocess.Popen[str], what: str, timeout_s: float = REACH_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"chaosbench exited ({proc.returncode}) before {what}"
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not reached within {timeout_s}s: {what}")


def read_run_json(out: Path) -> dict[str, Any] | None:
    for path in out.glob("*/run.json"):
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):  # being replaced
            return None
        return data
    return None


def requests_recorded(out: Path) -> bool:
    return any(p.stat().st_size > 0 for p in out.glob("*/events/requests.*.jsonl"))


def finish(proc: subprocess.Popen[str], timeout_s: float = 180) -> str:
    try:
        output, _ = proc.communicate(timeout=timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    return output


def assert_valid_run_dir(run: Path, statuses: set[str]) -> dict[str, Any]:
    info: dict[str, Any] = json.loads((run / "run.json").read_text())
    assert info["status"] in statuses, info
    assert info["t_end"] is not None
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["exit_code"] in (0, 1, 3)
    assert (run / "report" / "report.md").exists()
    return info


@pytest.mark.parametrize(
    ("victim", "workers"),
    [("gateway", 0), ("server-weather", 0), ("locust-w1", 2)],
)
def test_a_process_killed_mid_run_fails_the_run_with_a_reason_naming_it(
    tmp_path: Path, victim: str, workers: int
) -> None:
    out = tmp_path / "runs"
    path = scenario(tmp_path, **{"load.duration_s": 60})
    proc = subprocess.Popen(
        [*chaosbench("run", str(path), "--out", str(out), "--workers", str(workers))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: requests_recorded(out), proc, "the first request")
        info = wait_for(lambda: read_run_json(out), proc, "run.json")
        [target] = [p for p in info["processes"] if p["name"] == victim]
        os.kill(target["pid"], signal.SIGKILL)
    finally:
        output = finish(proc)
    assert proc.returncode == 3, output
    run = run_dir_of(out)
    info = assert_valid_run_dir(run, {"failed"})
    assert victim in info["reason"] and "exited with code -9 during the run" in info["reason"], info["reason"]
    assert "run failed: " in output
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["verdict"] == "error"
    assert summary["requests"]["total"] > 0  # what was recorded before the kill is reported
    [listed] = [p for p in info["processes"] if p["pid"] == target["pid"]]
    assert listed["exit_code"] == -9
    assert_no_leaks(run, str(tmp_path))


def interruption_moments(seed: int) -> list[float]:
    """Three moments (seconds after the run directory appears): during startup, around the load start, in the load."""
    rng = random.Random(seed)
    return [rng.uniform(0.0, 2.0), rng.uniform(2.0, 5.0), rng.uniform(5.0, 9.0)]


@pytest.mark.parametrize("moment", interruption_moments(20261122), ids=lambda s: f"{s:.2f}s")
def test_sigint_at_a_random_moment_leaves_a_valid_run_directory_and_no_process(
    tmp_path: Path, moment: float
) -> None:
    out = tmp_path / "runs"
    path = scenario(tmp_path, **{"load.duration_s": 5})
    proc = subprocess.Popen(
        chaosbench("run", str(path), "--out", str(out), "--progress-interval", "1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(lambda: read_run_json(out), proc, "the run directory")
        appeared = time.monotonic()
        time.sleep(max(0.0, appeared + moment - time.monotonic()))
        at_signal = read_run_json(out) or {}
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    finally:
        output = finish(proc)
    phase = "startup" if at_signal.get("load_t_start") is None else "load"
    print(f"SIGINT {moment:.2f}s after the run directory appeared, during the {phase}")
    run = run_dir_of(out)
    info = assert_valid_run_dir(run, {"interrupted", "completed"})
    if info["status"] == "interrupted":
        assert proc.returncode == 3, output
        assert info["reason"].startswith("interrupted by SIGINT"), info["reason"]
    else:
        assert proc.returncode in (0, 1), output
    assert "Traceback" not in output, output
    assert_no_leaks(run, str(tmp_path))

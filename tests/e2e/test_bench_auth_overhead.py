"""``python bench/auth_overhead.py --quick`` for real: four gateways, one run, the figures in its last line.

Only the shape and the consistency of the figures are asserted (never a speed: the machine is shared).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def test_the_quick_bench_prints_cpu_per_request_with_auth_on_and_off_and_the_overhead_fraction() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "auth_overhead.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["bench"] == "auth_overhead" and figures["quick"] is True
    off, on = figures["off_cpu_ms_per_request"], figures["hs256_cpu_ms_per_request"]
    assert off > 0 and on > 0
    assert figures["auth_cpu_overhead_fraction"] == pytest.approx(on / off - 1, abs=1e-3)
    assert isinstance(figures["target_under_5_percent"], bool)
    assert figures["target_under_5_percent"] == (
        figures["auth_cpu_overhead_fraction"] < figures["target_fraction"]
    )
    table = "\n".join(lines[:-1])
    for variant in ("off", "hs256", "rs256", "hs256_nocache"):
        assert variant in table

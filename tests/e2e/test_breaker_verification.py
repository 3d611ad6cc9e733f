"""Breaker verification on a real trip-and-recovery run: scenarios/server_crash.yaml, shortened.

The weather server crash-loops from 10 s to 20 s of the load; the gateway's breaker
opens, probes and closes. Every breaker check must pass on what the run recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def test_every_breaker_check_passes_on_a_crash_and_recovery_run(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(ROOT / "scenarios" / "server_crash.yaml"),
            "--set",
            "load.duration_s=26",
            "--set",
            "slas=[]",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (run_dir,) = out.iterdir()
    summary = json.loads((run_dir / "report" / "summary.json").read_text())

    checks = summary["breaker_checks"]
    failed = [c for c in checks if not c["passed"]]
    assert failed == [], json.dumps(failed, indent=2)
    assert {c["name"] for c in checks} >= {
        "opened_only_by_policy",
        "no_calls_while_open",
        "half_open_probe_limit",
        "left_open_after_recovery_timeout",
    }
    transitions = [(t["from_state"], t["to_state"]) for t in summary["breaker"]["transitions"]]
    assert ("closed", "open") in transitions and transitions[-1] == ("half_open", "closed")
    (window,) = summary["breaker_recovery"]
    assert window["kind"] == "crash" and window["opened"]
    assert 0 <= window["time_to_open_s"] < 10 and 0 <= window["time_to_close_s"] < 6
    cases = (
        ET.parse(run_dir / "report" / "junit.xml")
        .getroot()
        .findall(".//testcase[@classname='chaosbench.breaker']")
    )
    assert len(cases) == len(checks) and all(case.find("failure") is None for case in cases)

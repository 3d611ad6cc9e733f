"""Every bench script keeps the benchmark contract's command line: ``python bench/NAME.py [--quick]``.

Only ``--help`` is run here (fast); the benches themselves take too long for the unit suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH_SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))


def test_there_are_bench_scripts() -> None:
    assert BENCH_SCRIPTS, f"no bench scripts found in {ROOT / 'bench'}"


@pytest.mark.parametrize("script", BENCH_SCRIPTS, ids=lambda p: p.name)
def test_help_exits_0_and_mentions_quick(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{script.name} --help exited {proc.returncode}:\n{proc.stderr}"
    assert "--quick" in proc.stdout, f"{script.name} --help does not mention --quick:\n{proc.stdout}"

"""The command line's refusals, checked as a real `python -m fault_servers` process."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .conftest import serve_command

pytestmark = pytest.mark.integration

RUN_WAIT_S = 30.0


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        serve_command(*args), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=RUN_WAIT_S
    )


def test_a_bad_fault_file_exits_2_and_names_the_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - kind: error\n  - kind: latency\n    min_s: 0.5\n    max_s: 0.1\n")

    result = run("--transport", "http", "--port", "8999", "--faults", str(path))

    assert result.returncode == 2
    assert f"{path}: faults[1].max_s: expected seconds >= min_s" in result.stderr
    assert result.stdout == ""


def test_an_unknown_fault_kind_exits_2_and_names_the_key_path(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"faults": [{"kind": "meteor"}]}')

    result = run("--faults", str(path))

    assert result.returncode == 2
    assert f"{path}: faults[0].kind: unknown kind 'meteor'" in result.stderr


def test_a_non_loopback_host_exits_2_without_allow_remote() -> None:
    result = run("--transport", "http", "--host", "0.0.0.0", "--port", "8999")

    assert result.returncode == 2
    assert "non-loopback host '0.0.0.0'" in result.stderr
    assert "--allow-remote" in result.stderr

"""The ``chaosbench`` command line: help, pass-through commands, exit codes for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def chaosbench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_help_lists_the_commands_and_exit_codes() -> None:
    done = chaosbench("--help")
    assert done.returncode == 0
    for word in ("run", "validate", "report", "serve", "gateway", "exit codes"):
        assert word in done.stdout


@pytest.mark.parametrize(("command", "option"), [("serve", "--faults"), ("gateway", "--config")])
def test_pass_through_commands_show_their_own_help(command: str, option: str) -> None:
    done = chaosbench(command, "--help")
    assert done.returncode == 0
    assert option in done.stdout


def test_validate_accepts_the_smoke_scenario() -> None:
    done = chaosbench("validate", str(REPO / "scenarios" / "smoke.yaml"))
    assert done.returncode == 0
    assert "ok" in done.stdout and "50 users" in done.stdout


def test_report_on_a_directory_that_is_not_a_run_exits_2(tmp_path: Path) -> None:
    done = chaosbench("report", str(tmp_path))
    assert done.returncode == 2
    assert "not a run directory" in done.stderr


def test_serve_refuses_a_non_loopback_host_without_the_flag() -> None:
    done = chaosbench("serve", "weather", "--transport", "http", "--host", "192.0.2.1")
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr


def test_gateway_refuses_a_non_loopback_host_without_the_flag() -> None:
    done = chaosbench("gateway", "--host", "192.0.2.1")
    assert done.returncode == 2
    assert "--allow-remote" in done.stderr


def test_an_unknown_command_is_a_usage_error() -> None:
    assert chaosbench("explode").returncode == 2


def url_scenario(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "remote.yaml"
    path.write_text(
        "version: 1\nname: remote\nsystem:\n  servers:\n"
        f"    weather: {{url: '{url}'}}\n"
        "load: {users: 1, duration_s: 1}\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("url", ["http://192.0.2.10:8000/mcp", "https://mcp.example.com/mcp"])
def test_run_refuses_a_non_loopback_server_url_with_exit_2_and_starts_nothing(
    tmp_path: Path, url: str
) -> None:
    out = tmp_path / "runs"
    done = chaosbench("run", str(url_scenario(tmp_path, url)), "--out", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--allow-non-loopback" in done.stderr
    assert "system.servers.weather.url" in done.stderr
    assert not out.exists()  # not even a run directory
    assert "chaosbench run" not in done.stdout


def test_validate_accepts_a_non_loopback_url_since_nothing_is_sent(tmp_path: Path) -> None:
    done = chaosbench("validate", str(url_scenario(tmp_path, "http://192.0.2.10:8000/mcp")))
    assert done.returncode == 0, done.stderr

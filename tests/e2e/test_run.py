"""``chaosbench run`` end to end, in a subprocess, against real processes on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import pytest
import yaml

pytestmark = pytest.mark.e2e

REQUIRED = {
    "requests": {"t_start", "t_intended", "latency_s", "session_id", "name", "outcome", "status", "worker"},
    "calls": {"t_start", "latency_s", "request_id", "server", "tool", "attempt", "outcome", "breaker_state"},
    "breaker": {"t", "server", "from_state", "to_state", "reason"},
    "faults": {"t_start", "t_end", "target", "kind", "params"},
    "samples": {"t", "process", "cpu_percent", "rss_bytes"},
}


def scenario(tmp_path: Path, **changes: Any) -> Path:
    data: dict[str, Any] = {
        "version": 1,
        "name": "e2e",
        "seed": 7,
        "system": {
            "transport": "http",
            "servers": {"weather": {"faults": [{"kind": "latency", "delay_s": 0.005}]}},
        },
        "load": {"users": 5, "spawn_rate": 5, "duration_s": 4, "think_time_s": {"min": 0.1, "max": 0.3}},
        "slas": [
            {"name": "p99 under 5 s", "kind": "latency", "percentile": 99, "max_s": 5.0},
            {"name": "no more than half errors", "kind": "error_rate", "max_ratio": 0.5},
        ],
    }
    for key, value in changes.items():
        node = data
        *parents, last = key.split(".")
        for part in parents:
            node = node[part]
        node[last] = value
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def chaosbench(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness.cli", *args]


def run_dir_of(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def leftover_processes(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if (
                marker in cmd
                and proc.info["status"] != psutil.STATUS_ZOMBIE
                and proc.pid != psutil.Process().pid
            ):
                found.append(f"{proc.pid}: {cmd}")
        except psutil.Error:
            continue
    return found


def assert_no_leaks(run: Path, marker: str) -> None:
    info = json.loads((run / "run.json").read_text())
    for proc in info["processes"]:
        assert (
            not psutil.pid_exists(proc["pid"]) or psutil.Process(proc["pid"]).status() == psutil.STATUS_ZOMBIE
        )
    assert leftover_processes(marker) == []


def load_table(run: Path, table: str) -> pd.DataFrame:
    parquet = run / "events" / f"{table}.parquet"
    assert parquet.exists(), f"{table} was not compacted"
    return pd.read_parquet(parquet)


def test_a_short_run_writes_the_whole_run_directory_contract(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(scenario(tmp_path)), "--out", str(out)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    run = run_dir_of(out)
    for name in (
        "scenario.yaml",
        "environment.json",
        "run.json",
        "report/summary.json",
        "report/report.md",
        "report/junit.xml",
        "locust/locust_stats.csv",
    ):
        assert (run / name).exists(), name
    resolved = yaml.safe_load((run / "scenario.yaml").read_text())
    assert resolved["system"]["manager"]["call_timeout_s"] == 5.0  # defaults filled
    env = json.loads((run / "environment.json").read_text())
    assert env["cpu_count"] and env["end_wall_time"] > env["start_wall_time"]
    assert json.loads((run / "run.json").read_text())["status"] == "completed"
    for table, columns in REQUIRED.items():
        frame = load_table(run, table)
        assert columns <= set(frame.columns), (table, columns - set(frame.columns))
    requests = load_table(run, "requests")
    assert len(requests) > 10
    assert requests["request_id"].is_unique  # every request exactly once
    assert set(requests["outcome"]) <= {"ok", "error", "timeout", "dropped"}
    calls = load_table(run, "calls")
    assert set(calls["request_id"]) <= set(requests["request_id"])
    assert {"gateway", "locust", "server-weather"} <= set(load_table(run, "samples")["process"])
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["exit_code"] == 0
    assert summary["requests"]["total"] == len(requests)
    assert_no_leaks(run, str(tmp_path))


def test_an_impossible_sla_fails_the_run_with_exit_code_1(tmp_path: Path) -> None:
    path = scenario(
        tmp_path, slas=[{"name": "impossibly fast", "kind": "latency", "percentile": 50, "max_s": 1e-6}]
    )
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL" in done.stdout
    run = run_dir_of(out)
    junit = ET.parse(run / "report" / "junit.xml").getroot()
    cases = [c for c in junit.findall(".//testcase") if c.get("classname") == "chaosbench.sla"]
    assert [c.get("name") for c in cases] == ["impossibly fast"]
    assert cases[0].find("failure") is not None
    assert_no_leaks(run, str(tmp_path))


def test_sigint_mid_run_leaves_a_valid_run_directory_and_no_process(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    path = scenario(tmp_path, **{"load.duration_s": 120})
    proc = subprocess.Popen(
        chaosbench("run", str(path), "--out", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        requests_seen = False
        while time.monotonic() < deadline and not requests_seen:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            parts = list(out.glob("*/events/requests.*.jsonl"))
            requests_seen = any(p.stat().st_size > 0 for p in parts)
            time.sleep(0.2)
        assert requests_seen, "no request was recorded within 90 s"
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 3, output
    assert "interrupted by SIGINT" in output
    run = run_dir_of(out)
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["t_end"] is not None
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["verdict"] == "error" and summary["exit_code"] == 3
    assert summary["requests"]["total"] > 0
    assert (run / "report" / "report.md").read_text().count("interrupted") >= 1
    assert load_table(run, "requests")["request_id"].is_unique
    assert_no_leaks(run, str(tmp_path))


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_bad_scenario_exits_2_names_file_and_key_and_starts_nothing(tmp_path: Path, command: str) -> None:
    path = scenario(tmp_path, **{"load.users": -3})
    out = tmp_path / "runs"
    args = [command, str(path)] + (["--out", str(out)] if command == "run" else [])
    done = subprocess.run(chaosbench(*args), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert str(path) in done.stderr and "load.users" in done.stderr
    assert not out.exists()
    assert leftover_processes(str(tmp_path)) == []


def test_a_run_over_stdio_passes(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    path = scenario(tmp_path, **{"system.transport": "stdio"})
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = run_dir_of(out)
    calls = load_table(run, "calls")
    assert (calls["outcome"] == "ok").sum() > 0
    assert any(p.startswith("gateway/server-weather") for p in load_table(run, "samples")["process"])
    assert_no_leaks(run, str(tmp_path))


def test_a_crash_window_restarts_the_server_and_the_breaker_opens_then_closes(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        **{
            "load.duration_s": 10,
            "system.manager": {
                "call_timeout_s": 2.0,
                "breaker": {"failure_threshold": 2, "recovery_timeout_s": 1.0},
            },
            "faults": [{"at_s": 2, "for_s": 2, "target": "weather", "fault": {"kind": "crash"}}],
            "slas": [],
        },
    )
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "restarted" in done.stdout
    run = run_dir_of(out)
    crashed = [
        p for p in json.loads((run / "run.json").read_text())["processes"] if p["name"] == "server-weather"
    ]
    assert len(crashed) >= 2 and any(p["exit_code"] == 1 for p in crashed)
    faults = load_table(run, "faults")
    assert set(faults["kind"]) >= {"crash"} and set(faults["target"]) == {"weather"}
    transitions = list(
        zip(load_table(run, "breaker")["from_state"], load_table(run, "breaker")["to_state"], strict=True)
    )
    assert ("closed", "open") in transitions and transitions[-1] == ("half_open", "closed")
    assert load_table(run, "requests")["request_id"].is_unique
    assert_no_leaks(run, str(tmp_path))

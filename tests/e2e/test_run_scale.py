"""Load at scale, end to end: Locust's distributed mode with the web UI, the fault timeline against
the load start, and an MCP server chaosbench does not start (``url``)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from harness.netutil import free_port
from tests.e2e.test_run import assert_no_leaks, chaosbench, load_table, run_dir_of, scenario

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
#: loadgen's locustfile (issue 7) writes runtime/issued.<worker>-<pid>.json (contract C2).
#: How far a fault window in the faults table may be from load start + the timeline's offsets.
WINDOW_TOLERANCE_S = 0.5


class DistributedRun:
    def __init__(self, run: Path, output: str, returncode: int, web_ui_status: int | None) -> None:
        self.run, self.output, self.returncode, self.web_ui_status = run, output, returncode, web_ui_status
        self.info: dict[str, Any] = json.loads((run / "run.json").read_text())


@pytest.fixture(scope="module")
def distributed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributedRun]:
    """One run with ``--workers 2 --web-ui``; the web UI is fetched while the run is going."""
    tmp_path = tmp_path_factory.mktemp("distributed")
    out = tmp_path / "runs"
    slas = [
        {"name": "p99 under 5 s", "kind": "latency", "percentile": 99, "max_s": 5.0},
        # every Locust process's RSS (master and both workers), from the samples table
        {"name": "Locust memory", "kind": "rss_growth", "process": "locust*", "max_mib": 500, "window_s": 1},
    ]
    path = scenario(tmp_path, **{"load.users": 8, "load.spawn_rate": 8, "load.duration_s": 6, "slas": slas})
    proc = subprocess.Popen(
        chaosbench(
            "run", str(path), "--out", str(out), "--workers", "2", "--web-ui", "--progress-interval", "1"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    status: int | None = None
    try:
        deadline = time.monotonic() + 90
        while status is None and time.monotonic() < deadline and proc.poll() is None:
            urls = [
                ln.split("Locust web UI: ")[1].split()[0] for ln in list(lines) if "Locust web UI: " in ln
            ]
            if urls:
                with contextlib.suppress(httpx.HTTPError):
                    status = httpx.get(urls[0], timeout=2.0).status_code
            time.sleep(0.2)
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        reader.join(timeout=10)
    yield DistributedRun(run_dir_of(out), "".join(lines), proc.returncode, status)
    assert_no_leaks(run_dir_of(out), str(tmp_path))


def worker_pid(worker: str) -> int:
    return int(worker.rsplit("-", 1)[1])


def test_a_distributed_run_with_the_web_ui_completes_and_records_its_processes(
    distributed: DistributedRun,
) -> None:
    assert distributed.returncode == 0, distributed.output
    info = distributed.info
    assert info["status"] == "completed" and info["workers"] == 2
    assert info["web_ui"].startswith("http://127.0.0.1:")
    assert distributed.web_ui_status == 200, "the web UI did not answer during the run"
    procs = {p["name"]: p for p in info["processes"]}
    assert {"locust", "locust-w1", "locust-w2", "gateway", "server-weather"} <= procs.keys()
    assert all(procs[n]["exit_code"] == 0 for n in ("locust", "locust-w1", "locust-w2"))
    master = procs["locust"]["argv"]
    assert "--master" in master and master[master.index("--master-bind-host") + 1] == "127.0.0.1"
    samples = load_table(distributed.run, "samples")
    assert {"locust", "locust-w1", "locust-w2", "gateway/weather"} <= set(samples["process"])
    gauges = samples[samples["process"] == "gateway/weather"]
    assert (gauges["pool_sessions"] >= 1).all() and set(gauges["breaker_state"]) == {"closed"}
    summary = json.loads((distributed.run / "report" / "summary.json").read_text())
    memory = next(s for s in summary["slas"] if s["kind"] == "rss_growth")
    assert memory["passed"] and memory["unit"] == "MiB", memory
    assert "of 3 process(es) measured" in memory["detail"], memory  # locust, locust-w1, locust-w2


def test_every_request_of_both_workers_is_in_the_requests_table_once_and_none_from_the_master(
    distributed: DistributedRun,
) -> None:
    requests = load_table(distributed.run, "requests")
    assert requests["request_id"].is_unique
    pids = {p["name"]: p["pid"] for p in distributed.info["processes"]}
    by_pid = Counter(worker_pid(w) for w in requests["worker"])
    assert set(by_pid) == {pids["locust-w1"], pids["locust-w2"]}, by_pid
    assert min(by_pid.values()) > 5  # both workers ran users
    assert not list((distributed.run / "events").glob("*.jsonl"))  # everything compacted


def test_the_requests_table_holds_exactly_what_each_worker_says_it_issued(
    distributed: DistributedRun,
) -> None:
    requests = load_table(distributed.run, "requests")
    issued = {
        data["worker"]: data["issued"]
        for data in (json.loads(p.read_text()) for p in (distributed.run / "runtime").glob("issued.*.json"))
    }
    workers = {w for w in issued if w.startswith(("w1-", "w2-"))}
    assert len(workers) == 2, issued
    counted = requests["worker"].value_counts().to_dict()
    for worker, n in issued.items():
        assert counted.get(worker, 0) == n, (worker, n, counted)
    assert sum(issued.values()) == len(requests)


def test_fault_windows_in_the_faults_table_match_the_timeline_from_the_load_start(tmp_path: Path) -> None:
    timeline = [
        {"at_s": 1.0, "for_s": 1.5, "target": "weather", "fault": {"kind": "error", "probability": 0.2}},
        {"at_s": 3.0, "for_s": 1.0, "target": "weather", "fault": {"kind": "latency", "delay_s": 0.01}},
    ]
    path = scenario(tmp_path, **{"load.duration_s": 5, "faults": timeline, "slas": []})
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = run_dir_of(out)
    load_t_start = json.loads((run / "run.json").read_text())["load_t_start"]
    faults = load_table(run, "faults")
    for i, entry in enumerate(timeline):
        rows: pd.DataFrame = faults[faults["window"] == f"timeline[{i}]"]
        assert len(rows) == 1, faults
        row = rows.iloc[0]
        assert row["kind"] == entry["fault"]["kind"] and row["target"] == "weather"
        assert abs(row["t_start"] - (load_t_start + entry["at_s"])) <= WINDOW_TOLERANCE_S, (row, load_t_start)
        assert abs(row["t_end"] - (load_t_start + entry["at_s"] + entry["for_s"])) <= WINDOW_TOLERANCE_S
    assert_no_leaks(run, str(tmp_path))


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "fault_servers",
        "serve",
        "weather",
        "--transport",
        "http",
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "the test's own server did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_loopback_url_server_is_used_and_left_running(
    tmp_path: Path, own_server: tuple[str, subprocess.Popen[bytes]]
) -> None:
    url, server = own_server
    path = scenario(tmp_path, **{"system.servers": {"weather": {"url": url}}, "load.duration_s": 3})
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not started by chaosbench" in done.stdout
    run = run_dir_of(out)
    names = {p["name"] for p in json.loads((run / "run.json").read_text())["processes"]}
    assert not any(n.startswith("server-") for n in names), names
    calls = load_table(run, "calls")
    assert (calls["outcome"] == "ok").sum() > 0 and set(calls["server"]) == {"weather"}
    assert server.poll() is None  # chaosbench does not own it, so it did not stop it
    assert_no_leaks(run, str(tmp_path))


def test_a_worker_started_by_hand_joins_the_master_and_its_copied_files_are_reported(tmp_path: Path) -> None:
    """docs/distributed.md's recipe, with the "remote" worker on this machine and its own directories."""
    out = tmp_path / "runs"
    path = scenario(tmp_path, **{"load.users": 8, "load.spawn_rate": 8, "load.duration_s": 12})
    proc = subprocess.Popen(
        chaosbench("run", str(path), "--out", str(out), "--workers", "1", "--no-compact"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    remote_dir = tmp_path / "remote"
    remote: subprocess.Popen[bytes] | None = None
    try:
        deadline = time.monotonic() + 90
        ports = []
        while not ports and time.monotonic() < deadline and proc.poll() is None:
            ports = [
                ln.split("Locust master on 127.0.0.1:")[1].split()[0]
                for ln in list(lines)
                if "Locust master on" in ln
            ]
            time.sleep(0.1)
        assert ports, "".join(lines)
        run = run_dir_of(out)
        settings = json.loads((run / "runtime" / "locust.json").read_text())
        settings |= {"events_dir": str(remote_dir / "events"), "runtime_dir": str(remote_dir / "runtime")}
        (remote_dir / "events").mkdir(parents=True)
        (remote_dir / "runtime").mkdir()
        (remote_dir / "locust.json").write_text(json.dumps(settings))
        locustfile = str(ROOT / "scenarios" / "locust_agent.py")
        worker = [sys.executable, "-m", "locust", "-f", locustfile, "--worker", "--loglevel", "WARNING"]
        remote = subprocess.Popen(
            [*worker, "--master-host", "127.0.0.1", "--master-port", ports[0]],
            env={
                **os.environ,
                "CHAOSBENCH_LOCUST_CONFIG": str(remote_dir / "locust.json"),
                "CHAOSBENCH_WORKER": "r1",
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert proc.wait(timeout=240) == 0, "".join(lines)
        remote.wait(timeout=30)  # the master's quit reaches the joined worker too
    finally:
        for p in (proc, remote):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        reader.join(timeout=10)
    assert "events left as JSONL parts" in "".join(lines)
    copied = list((remote_dir / "events").glob("*.jsonl"))
    assert any(p.name.startswith("requests.") for p in copied), copied
    for part in copied:
        shutil.copy(part, run / "events" / part.name)
    compact = subprocess.run(
        [sys.executable, "-m", "reports", "compact", str(run)], capture_output=True, text=True, timeout=120
    )
    assert compact.returncode == 0, compact.stderr
    report = subprocess.run(chaosbench("report", str(run)), capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    requests = load_table(run, "requests")
    assert requests["request_id"].is_unique
    pids = {worker_pid(w) for w in requests["worker"]}
    local = {
        p["pid"] for p in json.loads((run / "run.json").read_text())["processes"] if p["name"] == "locust-w1"
    }
    assert local < pids and remote.pid in pids, (pids, local, remote.pid)
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["requests"]["total"] == len(requests)
    assert_no_leaks(run, str(tmp_path))

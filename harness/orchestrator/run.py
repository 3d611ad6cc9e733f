"""``chaosbench run``: play one scenario end to end and leave a run directory behind.

Order: servers (HTTP) → gateway → Locust; then, on any exit path (the normal
end, a child that died, an error, SIGINT or SIGTERM), stop Locust, the gateway
and the servers in that order, compact the events and render the report in a
subprocess (``python -m reports``), whose exit code is the run's verdict.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import yaml

from harness.events import EventWriter
from harness.netutil import free_port
from harness.orchestrator.procs import ManagedProcess
from harness.orchestrator.progress import GatewaySnapshot, format_progress, scrape
from harness.orchestrator.rundir import RunDir, RunRecord, create_run_dir
from harness.orchestrator.sampler import Sampler
from harness.scenario import Scenario

__all__ = ["RunOptions", "run_scenario"]

EXIT_HARNESS_FAILED = 3


@dataclass(frozen=True)
class RunOptions:
    out: Path = Path("runs")
    progress_interval_s: float = 5.0
    server_ready_timeout_s: float = 30.0
    gateway_ready_timeout_s: float = 60.0
    timeline_startup_budget_s: float = 8.0
    server_restart_backoff_s: float = 1.0
    workers: int = 0  # Locust distributed mode: a master and this many local workers (0: one process)
    web_ui: bool = False  # serve Locust's web UI on 127.0.0.1 during the run


class _StartError(Exception):
    """A process would not start or become ready (the run is then ``failed``)."""


class _Stopper:
    """Turns SIGINT/SIGTERM into a flag the run loop checks; restores handlers on exit."""

    def __init__(self, stream: TextIO) -> None:
        self.reason: str | None = None
        self._stream = stream
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.reason is None:
            self.reason = f"interrupted by {signal.Signals(signum).name}"
            print(f"\n{self.reason}: stopping the run and writing what was recorded...", file=self._stream)


@dataclass
class _Run:
    scenario: Scenario
    run: RunDir
    record: RunRecord
    options: RunOptions
    stream: TextIO
    stopper: _Stopper
    servers: dict[str, ManagedProcess] = field(default_factory=dict)
    gateway: ManagedProcess | None = None
    locust: ManagedProcess | None = None
    gateway_url: str = ""
    run_start: float | None = None  # the planned load start that timeline offsets count from
    restarts: dict[str, int] = field(default_factory=dict)
    retired: list[ManagedProcess] = field(default_factory=list)
    next_restart_at: dict[str, float] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def all_processes(self) -> list[ManagedProcess]:
        procs = [self.locust, self.gateway, *self.servers.values(), *self.retired]
        return [p for p in procs if p is not None]


def run_scenario(scenario: Scenario, options: RunOptions | None = None, stream: TextIO = sys.stdout) -> int:
    """Play ``scenario``; returns the CLI exit code (0 pass, 1 SLA failed, 3 harness failed)."""
    options = options or RunOptions()
    run, run_id = create_run_dir(options.out, scenario)
    record = RunRecord(run_id=run_id, scenario=scenario.name)
    run.write_run_record(record)
    run.write_environment(record.t_start, None)
    with _Stopper(stream) as stopper:
        state = _Run(scenario, run, record, options, stream, stopper)
        state.say(f"chaosbench run {scenario.name} → {run.path}")
        sampler = Sampler(EventWriter(run.events, "samples", "orchestrator"))
        try:
            _play(state, sampler)
        except _StartError as exc:
            record.status, record.reason = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - top level of the run: record it, then report what we have
            record.status, record.reason = "failed", f"harness error: {exc!r}"
            traceback.print_exc(file=stream)
        finally:
            _teardown(state)
            sampler.close()
    if record.status != "completed":
        state.say(f"run {record.status}: {record.reason}")
    return _report(run, stream)


def _play(state: _Run, sampler: Sampler) -> None:
    sc, run = state.scenario, state.run
    if sc.faults:
        # Timeline offsets count from the load start, which every server must know before it
        # starts (a stdio server respawned later too): fix it now, start the load exactly then.
        state.run_start = time.time() + state.options.timeline_startup_budget_s
    if sc.system.transport == "http":
        for name, server in sc.system.servers.items():
            _start_http_server(state, name, server.kind or name)
    _start_gateway(state)
    sampler.track("orchestrator", None)
    for proc in state.all_processes():
        sampler.track(proc.name, proc)
    _wait_for_run_start(state)
    _start_locust(state)
    assert state.locust is not None
    sampler.track("locust", state.locust)
    state.record.load_t_start = time.time()
    run.write_run_record(state.record)
    _watch(state, sampler)


def _start_http_server(state: _Run, name: str, kind: str) -> None:
    port = free_port()
    argv = [
        *_server_command(state, name, kind, "http"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = ManagedProcess(f"server-{name}", argv, state.run.logs / f"server-{name}.log")
    state.servers[name] = proc
    state.say(f"  server {name} ({kind}, http) starting on 127.0.0.1:{port}")
    _wait_ready(state, proc, f"http://127.0.0.1:{port}/healthz", state.options.server_ready_timeout_s)


def _write_fault_file(state: _Run, name: str) -> Path | None:
    data = state.scenario.fault_file(name)
    if not data["faults"] and not data["timeline"]:
        return None
    path = state.run.runtime / f"faults-{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def _server_command(state: _Run, name: str, kind: str, transport: str) -> list[str]:
    """``python -m fault_servers serve ...`` for one server: seed, faults, events, run start."""
    argv = [
        sys.executable,
        "-m",
        "fault_servers",
        "serve",
        kind,
        "--transport",
        transport,
        "--seed",
        str(state.scenario.seed),
        "--name",
        name,
        "--events-dir",
        str(state.run.events),
    ]
    faults_file = _write_fault_file(state, name)
    if faults_file is not None:
        argv += ["--faults", str(faults_file)]
    if state.run_start is not None:
        argv += ["--run-start", f"{state.run_start:.6f}"]
    return argv


def _has_crash_faults(state: _Run, name: str) -> bool:
    data = state.scenario.fault_file(name)
    entries = [*data["faults"], *(w["fault"] for w in data["timeline"])]
    return any(isinstance(f, dict) and f.get("kind") == "crash" for f in entries)


def _gateway_servers(state: _Run) -> dict[str, dict[str, Any]]:
    sc = state.scenario
    servers: dict[str, dict[str, Any]] = {}
    for name, server in sc.system.servers.items():
        kind = server.kind or name
        tuning = server.model_dump(mode="json", include={"timeout_s", "retries", "pool_size", "breaker"})
        if sc.system.transport == "http":
            port = _port_of(state.servers[name])
            servers[name] = {
                "kind": kind,
                "transport": "http",
                "url": f"http://127.0.0.1:{port}/mcp",
                **tuning,
            }
        else:
            command = _server_command(state, name, kind, "stdio")
            servers[name] = {"kind": kind, "transport": "stdio", "command": command, **tuning}
    return servers


def _port_of(proc: ManagedProcess) -> int:
    return int(proc.argv[proc.argv.index("--port") + 1])


def _start_gateway(state: _Run) -> None:
    sc = state.scenario
    config = {
        "seed": sc.seed,
        "mode": sc.system.mode,
        "servers": _gateway_servers(state),
        "manager": sc.system.manager.model_dump(mode="json"),
        "agent": sc.system.agent.model_dump(mode="json"),
        "events_dir": str(state.run.events),
        "source": "gateway",
    }
    config_path = state.run.runtime / "gateway.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    port = free_port()
    state.gateway_url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "harness.gateway", "--config", str(config_path), "--port", str(port)]
    state.gateway = ManagedProcess("gateway", argv, state.run.logs / "gateway.log")
    state.say(
        f"  gateway starting on {state.gateway_url} ({sc.system.transport} to {len(sc.system.servers)} server(s))"
    )
    _wait_ready(state, state.gateway, f"{state.gateway_url}/ready", state.options.gateway_ready_timeout_s)


def _wait_ready(state: _Run, proc: ManagedProcess, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if state.stopper.reason:
            raise _StartError(f"{state.stopper.reason} while waiting for {proc.name}")
        if not proc.alive():
            raise _StartError(
                f"{proc.name} exited with code {proc.exit_code} before it was ready; "
                f"log {proc.log_path}:\n{proc.log_tail()}"
            )
        try:
            response = httpx.get(url, timeout=2.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}: {response.text[:300]}"
        except httpx.HTTPError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise _StartError(
        f"{proc.name} not ready at {url} within {timeout_s}s (last: {last}); log {proc.log_path}"
    )


def _start_locust(state: _Run) -> None:
    sc, run = state.scenario, state.run
    spec = find_spec("scenarios.locust_agent")
    if spec is None or spec.origin is None:
        raise _StartError("cannot find scenarios/locust_agent.py (is chaosbench installed?)")
    settings = {  # contract C1 (harness/loadsettings.py); the locustfile's shape plays sc.load
        "events_dir": str(run.events),
        "runtime_dir": str(run.runtime),
        "csv_prefix": str(run.locust / "locust"),
        "seed": sc.seed,
        "load": sc.load.model_dump(mode="json"),
        "servers": list(sc.system.servers),
        "workers": 0,
        "connect_timeout_s": 5.0,
    }
    settings_path = run.runtime / "locust.json"
    settings_path.write_text(json.dumps(settings), encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        spec.origin,
        "--headless",
        "--host",
        state.gateway_url,
        "--stop-timeout",
        f"{sc.load.stop_timeout_s:g}",
        "--csv",
        str(run.locust / "locust"),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    env = {**os.environ, "CHAOSBENCH_LOCUST_CONFIG": str(settings_path), "CHAOSBENCH_WORKER": "local"}
    state.locust = ManagedProcess("locust", argv, run.logs / "locust.log", env=env)
    state.say(
        f"  load: {sc.load.peak_sessions()} users (spawn {sc.load.spawn_rate:g}/s) for {sc.load.total_duration_s():g}s"
    )


def _watch(state: _Run, sampler: Sampler) -> None:
    sc = state.scenario
    assert state.locust is not None and state.gateway is not None
    started = time.monotonic()
    deadline = started + sc.load.total_duration_s() + sc.load.stop_timeout_s + 60.0
    next_sample = next_progress = started
    previous: GatewaySnapshot | None = None
    previous_at = started
    while True:
        now = time.monotonic()
        if state.stopper.reason:
            state.record.status, state.record.reason = "interrupted", state.stopper.reason
            return
        if not state.locust.alive():
            code = state.locust.exit_code
            if code in (0, 1):
                state.record.status = "completed"
            else:
                state.record.status = "failed"
                state.record.reason = (
                    f"Locust exited with code {code}; log {state.locust.log_path}:\n{state.locust.log_tail()}"
                )
            return
        for name, proc in list(state.servers.items()):
            if not proc.alive() and _has_crash_faults(state, name):
                _restart_crashed_server(state, name, proc, sampler)
        for proc in [
            state.gateway,
            *(p for n, p in state.servers.items() if not _has_crash_faults(state, n)),
        ]:
            if not proc.alive():
                state.record.status = "failed"
                state.record.reason = (
                    f"{proc.name} exited with code {proc.exit_code} during the run; "
                    f"log {proc.log_path}:\n{proc.log_tail()}"
                )
                return
        if now > deadline:
            state.record.status, state.record.reason = "failed", "the load generator did not finish in time"
            return
        if now >= next_sample:
            snapshot = scrape(state.gateway_url)
            sampler.sample(gateway_snapshot=snapshot)
            next_sample += 1.0
            if now >= next_progress:
                if now > started + 0.5:
                    state.say(
                        "  "
                        + format_progress(
                            now - started, sc.load.total_duration_s(), snapshot, previous, now - previous_at
                        )
                    )
                previous, previous_at = snapshot, now
                next_progress += state.options.progress_interval_s
        time.sleep(0.1)


def _teardown(state: _Run) -> None:
    record = state.record
    if state.locust is not None:
        state.locust.stop(grace_s=state.scenario.load.stop_timeout_s + 10.0)
        record.load_t_end = state.locust.stopped_at
    if state.gateway is not None:
        state.gateway.stop(grace_s=15.0)
    for proc in state.servers.values():
        proc.stop(grace_s=5.0)
    record.t_end = time.time()
    record.processes = [
        {"name": p.name, "pid": p.pid, "argv": p.argv, "exit_code": p.exit_code, "log": str(p.log_path)}
        for p in state.all_processes()
    ]
    if record.status == "running":
        record.status, record.reason = "failed", record.reason or "the run ended unexpectedly"
    state.run.write_run_record(record)
    state.run.write_environment(record.t_start, record.t_end)


def _wait_for_run_start(state: _Run) -> None:
    """Hold the load until the planned run start, so timeline offsets mean load time."""
    if state.run_start is None:
        return
    late_s = time.time() - state.run_start
    if late_s > 0:
        state.say(
            f"  warning: startup took {late_s:.1f}s longer than planned; fault windows start that much early"
        )
        return
    state.say(f"  load starts in {-late_s:.1f}s, at the timeline's origin")
    while time.time() < state.run_start:
        if state.stopper.reason:
            raise _StartError(f"{state.stopper.reason} before the load started")
        time.sleep(min(0.1, max(0.0, state.run_start - time.time())))


def _restart_crashed_server(state: _Run, name: str, proc: ManagedProcess, sampler: Sampler) -> None:
    """An HTTP server whose faults include crashes is restarted when it dies, like a restart policy.

    A restarted server follows the same timeline (same ``--run-start``), so one restarted inside
    a crash window exits again until the window ends.
    """
    now = time.monotonic()
    if now < state.next_restart_at.get(name, 0.0):
        return
    proc.stop(grace_s=0.0)
    state.retired.append(proc)
    count = state.restarts.get(name, 0) + 1
    state.restarts[name] = count
    state.next_restart_at[name] = now + state.options.server_restart_backoff_s
    fresh = ManagedProcess(proc.name, proc.argv, proc.log_path)
    state.servers[name] = fresh
    sampler.track(fresh.name, fresh)
    state.say(f"  server {name} exited (code {proc.exit_code}); restarted (restart {count})")


def _report(run: RunDir, stream: TextIO, runner: Callable[..., Any] = subprocess.run) -> int:
    compact = runner(
        [sys.executable, "-m", "reports", "compact", str(run.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if compact.returncode != 0:
        print(f"warning: could not compact events: {compact.stderr.strip()}", file=stream)
    rendered = runner(
        [sys.executable, "-m", "reports", "render", str(run.path)],
        capture_output=True,
        text=True,
        check=False,
    )
    stream.write(rendered.stdout)
    stream.write(rendered.stderr)
    stream.flush()
    code: int = rendered.returncode
    if code not in (0, 1, 2, 3):
        print(f"report generation failed with code {code}", file=stream)
        return EXIT_HARNESS_FAILED
    return code

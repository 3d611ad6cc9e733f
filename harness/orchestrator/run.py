"""``chaosbench run``: play one scenario end to end and leave a run directory behind.

Order: servers (HTTP; a server with a ``url`` is not started) → gateway → Locust
(its workers first, then the local process or master at the load start); then, on
any exit path (the normal end, a child that died, an error, SIGINT or SIGTERM), stop
Locust, the gateway and the servers in that order, compact the events and render the
report in a subprocess (``python -m reports``), whose exit code is the run's verdict.
SIGINT/SIGTERM are handled from before the run directory exists to the end of the
report, so an interruption at any moment still leaves a run directory with a report.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path
from typing import Any, TextIO

import httpx

from harness.events import EventWriter
from harness.netutil import free_port
from harness.orchestrator.childenv import ChildEnvironments, child_environments
from harness.orchestrator.commands import gateway_config, has_crash_faults, server_command
from harness.orchestrator.gauges import GatewaySnapshot, scrape
from harness.orchestrator.loadgen import (
    EXPECT_WORKERS_MAX_WAIT_S,
    LocustProcessSpec,
    ProcessExit,
    load_outcome,
    locust_processes,
    locust_settings,
)
from harness.orchestrator.loadstatus import read_load_status
from harness.orchestrator.procs import ManagedProcess
from harness.orchestrator.progress import ProgressView, active_windows, format_progress, stage_at
from harness.orchestrator.rundir import RunDir, RunRecord, create_run_dir
from harness.orchestrator.sampler import Sampler
from harness.orchestrator.signals import Stopper
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
    compact_events: bool = True  # False: leave the JSONL parts (remote workers' files are copied in later)


class _StartError(Exception):
    """A process would not start or become ready (the run is then ``failed``)."""


class _Interrupted(Exception):
    """SIGINT or SIGTERM arrived before the load started (the run is then ``interrupted``)."""


@dataclass
class _Run:
    scenario: Scenario
    run: RunDir
    record: RunRecord
    options: RunOptions
    stream: TextIO
    stopper: Stopper
    servers: dict[str, ManagedProcess] = field(default_factory=dict)
    gateway: ManagedProcess | None = None
    locust: ManagedProcess | None = None  # the local Locust process, or the master
    workers: list[ManagedProcess] = field(default_factory=list)
    gateway_url: str = ""
    envs: ChildEnvironments | None = None  # the gateway's and Locust's environments (keys for auth)
    run_start: float | None = None  # the planned load start that timeline offsets count from
    restarts: dict[str, int] = field(default_factory=dict)
    retired: list[ManagedProcess] = field(default_factory=list)
    next_restart_at: dict[str, float] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def all_processes(self) -> list[ManagedProcess]:
        procs = [self.locust, *self.workers, self.gateway, *self.servers.values(), *self.retired]
        return [p for p in procs if p is not None]

    def record_processes(self) -> None:
        self.record.processes = [
            {"name": p.name, "pid": p.pid, "argv": p.argv, "exit_code": p.exit_code, "log": str(p.log_path)}
            for p in self.all_processes()
        ]
        self.run.write_run_record(self.record)


def run_scenario(scenario: Scenario, options: RunOptions | None = None, stream: TextIO = sys.stdout) -> int:
    """Play ``scenario``; returns the CLI exit code (0 pass, 1 SLA failed, 3 harness failed)."""
    options = options or RunOptions()
    with Stopper(stream) as stopper:
        run, run_id = create_run_dir(options.out, scenario)
        record = RunRecord(
            run_id=run_id, scenario=scenario.name, workers=options.workers, profile=scenario.profile
        )
        run.write_run_record(record)
        run.write_environment(record.t_start, None)
        state = _Run(scenario, run, record, options, stream, stopper)
        state.say(f"chaosbench run {scenario.name} → {run.path}")
        sampler = Sampler(EventWriter(run.events, "samples", "orchestrator"))
        try:
            _play(state, sampler)
        except _Interrupted as exc:
            record.status, record.reason = "interrupted", str(exc)
        except _StartError as exc:
            record.status, record.reason = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - top level of the run: record it, then report what we have
            record.status, record.reason = "failed", f"harness error: {exc!r}"
            traceback.print_exc(file=stream)
        finally:
            _teardown(state)
            sampler.close()
            stopper.finishing = True
        if record.status != "completed":
            state.say(f"run {record.status}: {record.reason}")
        return _report(run, stream, compact_events=options.compact_events)


def _play(state: _Run, sampler: Sampler) -> None:
    sc, run = state.scenario, state.run
    state.envs = child_environments(sc.system.auth, run.runtime, os.environ)
    if sc.system.auth.enabled:
        where = {
            "none": "the keys configured for it",
            "HS256": "a fresh HS256 secret in its and Locust's environment only",
            "RS256": "a fresh RS256 key pair (runtime/jwt-rs256-*.pem, 0600; the gateway gets the public key)",
        }[state.envs.generated]
        state.say(f"  auth on: the gateway verifies tokens with {where}")
    if sc.faults:
        # Timeline offsets count from the load start, which every server must know before it
        # starts (a stdio server respawned later too): fix it now, start the load exactly then.
        state.run_start = time.time() + state.options.timeline_startup_budget_s
    if sc.system.transport == "http":
        for name, server in sc.system.servers.items():
            if server.url is None:
                _start_http_server(state, name, server.kind or name)
            else:
                state.say(f"  server {name} at {server.url} (not started by chaosbench)")
    _start_gateway(state)
    sampler.track("orchestrator", None)
    specs = _locust_specs(state)
    # Workers first: they import Locust and the locustfile while we wait, then connect to the
    # master as soon as it binds its port (they retry for minutes).
    for spec in specs[1:]:
        state.workers.append(
            ManagedProcess(spec.name, spec.argv, run.logs / f"{spec.name}.log", env=spec.env)
        )
    for proc in state.all_processes():
        sampler.track(proc.name, proc)
    state.record_processes()
    _wait_for_run_start(state)
    main = specs[0]
    state.locust = ManagedProcess(main.name, main.argv, run.logs / f"{main.name}.log", env=main.env)
    sampler.track(main.name, state.locust)
    state.record.load_t_start = time.time()
    state.record_processes()
    _say_load(state)
    _watch(state, sampler)


def _start_http_server(state: _Run, name: str, kind: str) -> None:
    port = free_port()
    argv = [
        *server_command(state.scenario, state.run, name, kind, "http", state.run_start),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    proc = ManagedProcess(f"server-{name}", argv, state.run.logs / f"server-{name}.log")
    state.servers[name] = proc
    state.say(f"  server {name} ({kind}, http) starting on 127.0.0.1:{port}")
    _wait_ready(state, proc, f"http://127.0.0.1:{port}/healthz", state.options.server_ready_timeout_s)


def _start_gateway(state: _Run) -> None:
    sc = state.scenario
    ports = {name: int(p.argv[p.argv.index("--port") + 1]) for name, p in state.servers.items()}
    config = gateway_config(sc, state.run, ports, state.run_start)
    config_path = state.run.runtime / "gateway.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    port = free_port()
    state.gateway_url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "harness.gateway", "--config", str(config_path), "--port", str(port)]
    env = state.envs.gateway if state.envs is not None else None
    state.gateway = ManagedProcess("gateway", argv, state.run.logs / "gateway.log", env=env)
    state.say(
        f"  gateway starting on {state.gateway_url} ({sc.system.transport} to {len(sc.system.servers)} server(s))"
    )
    _wait_ready(state, state.gateway, f"{state.gateway_url}/ready", state.options.gateway_ready_timeout_s)


def _wait_ready(state: _Run, proc: ManagedProcess, url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer yet"
    while time.monotonic() < deadline:
        if state.stopper.reason:
            raise _Interrupted(f"{state.stopper.reason} while waiting for {proc.name} to be ready")
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


def _locust_specs(state: _Run) -> list[LocustProcessSpec]:
    """Write ``runtime/locust.json`` and plan the Locust processes (local, or master then workers)."""
    sc, run, workers = state.scenario, state.run, state.options.workers
    spec = find_spec("scenarios.locust_agent")
    if spec is None or spec.origin is None:
        raise _StartError("cannot find scenarios/locust_agent.py (is chaosbench installed?)")
    csv_prefix = str(run.locust / "locust")
    settings = locust_settings(
        sc, events_dir=str(run.events), runtime_dir=str(run.runtime), csv_prefix=csv_prefix, workers=workers
    )
    settings_path = run.runtime / "locust.json"
    settings_path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    web_port = free_port() if state.options.web_ui else None
    if web_port is not None:
        state.record.web_ui = f"http://127.0.0.1:{web_port}"
    return locust_processes(
        sc,
        python=sys.executable,
        locustfile=spec.origin,
        host=state.gateway_url,
        csv_prefix=csv_prefix,
        settings_path=str(settings_path),
        workers=workers,
        master_port=free_port() if workers else None,
        web_port=web_port,
        base_env=state.envs.locust if state.envs is not None else dict(os.environ),
    )


def _say_load(state: _Run) -> None:
    load = state.scenario.load
    if load.model == "open":
        assert load.open is not None
        shape = f"open model, {load.open.arrival_rate_per_s:g} sessions/s, at most {load.open.max_sessions}"
    else:
        stages = load.effective_stages()
        shape = (
            f"up to {load.peak_sessions()} users in {len(stages)} stage(s)"
            if len(stages) > 1
            else (f"{load.peak_sessions()} users (spawn {load.spawn_rate:g}/s)")
        )
    where = f"a master and {len(state.workers)} worker(s)" if state.workers else "one process"
    state.say(f"  load: {shape} for {load.total_duration_s():g}s, Locust in {where}")
    if state.workers and state.locust is not None:
        port = state.locust.argv[state.locust.argv.index("--master-bind-port") + 1]
        state.say(f"  Locust master on 127.0.0.1:{port} (more workers may join: docs/distributed.md)")
    if state.record.web_ui:
        state.say(f"  Locust web UI: {state.record.web_ui} (the load starts by itself)")


def _watch(state: _Run, sampler: Sampler) -> None:
    sc = state.scenario
    started = time.monotonic()
    connect_s = EXPECT_WORKERS_MAX_WAIT_S if state.workers else 0.0
    deadline = started + sc.load.total_duration_s() + sc.load.stop_timeout_s + 60.0 + connect_s
    next_sample = next_progress = started
    previous: GatewaySnapshot | None = None
    previous_at = started
    color = state.stream.isatty()
    while True:
        now = time.monotonic()
        if state.stopper.reason:
            state.record.status, state.record.reason = "interrupted", state.stopper.reason
            return
        ended = _check_processes(state, sampler)
        if ended is not None:
            state.record.status, state.record.reason = ended
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
                        + format_progress(_progress_view(state, snapshot, previous, now - previous_at), color)
                    )
                previous, previous_at = snapshot, now
                next_progress += state.options.progress_interval_s
        time.sleep(0.1)


def _check_processes(state: _Run, sampler: Sampler) -> tuple[str, str | None] | None:
    """``(status, reason)`` once the run must end because a process exited, else ``None``.

    Restarts HTTP servers that have crash faults; any other child that died fails the run.
    """
    assert state.locust is not None and state.gateway is not None
    ok_codes = (0,) if state.workers else (0, 1)
    end = load_outcome(
        ProcessExit(state.locust.name, state.locust.exit_code),
        [ProcessExit(w.name, w.exit_code) for w in state.workers],
        ok_codes,
    )
    if end is not None:
        if end.status == "completed":
            return "completed", None
        proc = next(p for p in [state.locust, *state.workers] if p.name == end.process)
        if proc is state.locust:
            what = "the Locust master" if state.workers else "Locust"
        else:
            what = f"the Locust worker {proc.name}"
        return "failed", (
            f"{what} (pid {proc.pid}) exited with code {end.exit_code} during the run; "
            f"log {proc.log_path}:\n{proc.log_tail()}"
        )
    for name, proc in list(state.servers.items()):
        if not proc.alive() and has_crash_faults(state.scenario, name):
            _restart_crashed_server(state, name, proc, sampler)
    for proc in [
        state.gateway,
        *(p for n, p in state.servers.items() if not has_crash_faults(state.scenario, n)),
    ]:
        if not proc.alive():
            return "failed", (
                f"{proc.name} (pid {proc.pid}) exited with code {proc.exit_code} during the run; "
                f"log {proc.log_path}:\n{proc.log_tail()}"
            )
    return None


def _progress_view(
    state: _Run, snapshot: GatewaySnapshot | None, previous: GatewaySnapshot | None, dt_s: float
) -> ProgressView:
    load = state.scenario.load
    wall = time.time()
    load_start = state.record.load_t_start or wall
    origin = state.run_start if state.run_start is not None else load_start
    return ProgressView(
        elapsed_s=wall - load_start,
        duration_s=load.total_duration_s(),
        gateway=snapshot,
        before=previous,
        dt_s=dt_s,
        load=read_load_status(state.run.runtime, wall),
        stage=stage_at(load, wall - load_start),
        faults=active_windows(state.scenario.faults, wall - origin),
    )


def _teardown(state: _Run) -> None:
    record = state.record
    if state.locust is not None:
        state.locust.stop(grace_s=state.scenario.load.stop_timeout_s + 10.0)
        record.load_t_end = state.locust.stopped_at
    for worker in state.workers:
        # The master's quit message has usually stopped them already.
        worker.stop(grace_s=10.0)
    if state.gateway is not None:
        if state.gateway.alive():
            _save_final_metrics(state)
        state.gateway.stop(grace_s=15.0)
    for proc in state.servers.values():
        proc.stop(grace_s=5.0)
    record.t_end = time.time()
    if record.status == "running":
        record.status, record.reason = "failed", record.reason or "the run ended unexpectedly"
    state.record_processes()
    state.run.write_environment(record.t_start, record.t_end)


def _save_final_metrics(state: _Run) -> None:
    """``metrics/final.prom``: the gateway's ``/metrics`` once more, after the load, before it stops
    (the report compares its tool-call counters with the ``calls`` table)."""
    try:
        response = httpx.get(f"{state.gateway_url}/metrics", timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        state.say(f"  warning: could not save the gateway's final metrics: {exc!r}")
        return
    path = state.run.path / "metrics" / "final.prom"
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_name(".final.prom.tmp")
    tmp.write_bytes(response.content)
    os.replace(tmp, path)


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
            raise _Interrupted(f"{state.stopper.reason} before the load started")
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
    state.record_processes()
    state.say(f"  server {name} exited (code {proc.exit_code}); restarted (restart {count})")


def _report(
    run: RunDir, stream: TextIO, runner: Callable[..., Any] = subprocess.run, compact_events: bool = True
) -> int:
    # Own sessions: a Ctrl-C in the terminal during the report must not kill it half-written.
    if compact_events:
        compact = runner(
            [sys.executable, "-m", "reports", "compact", str(run.path)],
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
        if compact.returncode != 0:
            print(f"warning: could not compact events: {compact.stderr.strip()}", file=stream)
    else:
        print(
            f"events left as JSONL parts (--no-compact); later: python -m reports compact {run.path}",
            file=stream,
        )
    rendered = runner(
        [sys.executable, "-m", "reports", "render", str(run.path)],
        capture_output=True,
        text=True,
        check=False,
        start_new_session=True,
    )
    stream.write(rendered.stdout)
    stream.write(rendered.stderr)
    stream.flush()
    code: int = rendered.returncode
    if code not in (0, 1, 2, 3):
        print(f"report generation failed with code {code}", file=stream)
        return EXIT_HARNESS_FAILED
    return code

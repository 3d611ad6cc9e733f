"""Requests per second with Locust in 1 and in 2 worker processes, side by side in one invocation.

Run: ``python bench/workers_scaling.py [--quick]``. Each round plays the same small scenario
twice with ``chaosbench run --workers N`` (N = 1, then 2; the order alternates between
rounds), end to end: a weather server over HTTP with no fault, the gateway in ``tools``
mode making one tool call per turn with no simulated LLM latency, and Locust users with
no think time, so every user sends its next request as soon as the previous one answers
and the load generator is never idle by design.

Figures per run, from the run directory (never from Locust's own figures):

- ``rps``: requests answered (``ok`` or ``error``) per second over the steady window, from
  the first request + ``SETTLE_S`` to the last answer - 0.5 s (the ramp and the tail left out);
- ``p50_ms``/``p95_ms``: nearest-rank latency over the same window;
- CPU: the mean ``cpu_percent`` (100 = one core) of each process over the window, from the
  ``samples`` table: ``locust_cpu`` sums the Locust processes that run users (the workers;
  the master runs none), ``gateway_cpu`` and ``server_cpu`` are the system under test.

``rps_2_over_1`` is the median over rounds of rps(2 workers) / rps(1 worker). It shows what a
second load-generating process buys on this machine. It can only be near 2 when one worker
was the bottleneck (its CPU near 100% while the gateway's was not); on a machine with few
cores the gateway and the server use most of the CPU and the ratio stays near 1 or drops
below (the second worker takes CPU from them): ``bottleneck_1`` names the busiest process of
the 1-worker run so the ratio can be read honestly. Compare within a run only.
The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import psutil
import yaml

BENCH = "workers_scaling"
ROOT = Path(__file__).resolve().parent.parent
#: Seconds after the first request before the window starts (ramp-up and connection set-up).
SETTLE_S = 1.5
RUN_TIMEOUT_S = 300


@dataclass(frozen=True)
class Settings:
    rounds: int
    users: int
    duration_s: float


@dataclass(frozen=True)
class RunFigures:
    workers: int
    requests: int
    window_s: float
    rps: float
    p50_ms: float
    p95_ms: float
    error_ratio: float
    locust_cpu: float  # sum over the Locust processes that run users
    locust_cpu_max: float  # the busiest of them
    gateway_cpu: float
    server_cpu: float


def make_settings(args: argparse.Namespace) -> Settings:
    return Settings(rounds=1, users=32, duration_s=6.0) if args.quick else Settings(3, 64, 20.0)


def scenario(settings: Settings) -> dict[str, Any]:
    return {
        "version": 1,
        "name": BENCH,
        "seed": 1,
        "system": {
            "mode": "tools",
            "transport": "http",
            "servers": {"weather": {}},
            "agent": {"tool_calls_per_turn": 1, "llm_latency_s": 0.0},
        },
        "load": {
            "users": settings.users,
            "spawn_rate": settings.users,
            "duration_s": settings.duration_s,
            "think_time_s": {"min": 0.0, "max": 0.0},
        },
        "slas": [],
    }


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)] if ordered else math.nan


def run_figures(workers: int, requests: pd.DataFrame, samples: pd.DataFrame) -> RunFigures:
    """The figures of one run from its ``requests`` and ``samples`` tables."""
    answered = requests[requests["outcome"].isin(["ok", "error", "timeout"])]
    if answered.empty:
        raise RuntimeError(f"the run with {workers} worker(s) answered no request")
    t0 = float(answered["t_start"].min()) + SETTLE_S
    t1 = float((answered["t_start"] + answered["latency_s"]).max()) - 0.5
    if t1 <= t0:
        raise RuntimeError(f"the run with {workers} worker(s) is too short for a steady window")
    ends = answered["t_start"] + answered["latency_s"]
    steady = answered[(ends >= t0) & (ends < t1)]
    latencies = [float(v) * 1000 for v in steady["latency_s"]]
    in_window = samples[(samples["t"] >= t0) & (samples["t"] < t1)]

    def cpu(name: str) -> float:
        values = in_window.loc[in_window["process"] == name, "cpu_percent"].dropna()
        return float(values.mean()) if len(values) else math.nan

    users = [f"locust-w{i}" for i in range(1, workers + 1)] if workers else ["locust"]
    per_locust = [cpu(n) for n in users]
    return RunFigures(
        workers=workers,
        requests=len(steady),
        window_s=t1 - t0,
        rps=len(steady) / (t1 - t0),
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        error_ratio=float((steady["outcome"] != "ok").mean()) if len(steady) else math.nan,
        locust_cpu=sum(per_locust),
        locust_cpu_max=max(per_locust),
        gateway_cpu=cpu("gateway"),
        server_cpu=cpu("server-weather"),
    )


def play(settings: Settings, workers: int, workdir: Path) -> RunFigures:
    """One ``chaosbench run --workers N`` end to end; its figures."""
    out = workdir / f"runs-{workers}-{len(list(workdir.glob('runs-*')))}"
    path = workdir / "scenario.yaml"
    path.write_text(yaml.safe_dump(scenario(settings)), encoding="utf-8")
    argv = [
        sys.executable,
        "-m",
        "harness.cli",
        "run",
        str(path),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    done = subprocess.run(
        [*argv, "--progress-interval", "3600"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(
            f"chaosbench run --workers {workers} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    [run] = [p for p in out.iterdir() if p.is_dir()]
    events = run / "events"
    return run_figures(
        workers, pd.read_parquet(events / "requests.parquet"), pd.read_parquet(events / "samples.parquet")
    )


def bottleneck(run: RunFigures) -> str:
    """The busiest process of a run (by mean CPU)."""
    cpus = {"load generator": run.locust_cpu_max, "gateway": run.gateway_cpu, "server": run.server_cpu}
    return max(cpus, key=lambda k: -1.0 if math.isnan(cpus[k]) else cpus[k])


def figures(settings: Settings, quick: bool, runs: list[RunFigures]) -> dict[str, Any]:
    """The JSON figures: medians per worker count and the median per-round ratio."""
    one = [r for r in runs if r.workers == 1]
    two = [r for r in runs if r.workers == 2]
    if not one or len(one) != len(two):
        raise ValueError(f"need as many 1-worker as 2-worker runs, got {len(one)} and {len(two)}")
    rps_1 = statistics.median(r.rps for r in one)
    rps_2 = statistics.median(r.rps for r in two)
    ratio = statistics.median(b.rps / a.rps for a, b in zip(one, two, strict=True))
    median_1 = sorted(one, key=lambda r: r.rps)[len(one) // 2]
    return {
        "bench": BENCH,
        "quick": quick,
        "rounds": len(one),
        "users": settings.users,
        "duration_s": settings.duration_s,
        "rps_1": round(rps_1, 2),
        "rps_2": round(rps_2, 2),
        "rps_2_over_1": round(ratio, 3),
        "p95_ms_1": round(statistics.median(r.p95_ms for r in one), 2),
        "p95_ms_2": round(statistics.median(r.p95_ms for r in two), 2),
        "locust_cpu_1": round(statistics.median(r.locust_cpu for r in one), 1),
        "locust_cpu_2": round(statistics.median(r.locust_cpu for r in two), 1),
        "gateway_cpu_1": round(statistics.median(r.gateway_cpu for r in one), 1),
        "gateway_cpu_2": round(statistics.median(r.gateway_cpu for r in two), 1),
        "server_cpu_1": round(statistics.median(r.server_cpu for r in one), 1),
        "bottleneck_1": bottleneck(median_1),
        "cpus": os.cpu_count(),
    }


def table(runs: list[RunFigures], result: dict[str, Any]) -> str:
    header = (
        f"{'workers':>7} {'requests':>9} {'window s':>9} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'err':>6}"
        f" {'locust cpu%':>12} {'(max proc)':>10} {'gateway cpu%':>13} {'server cpu%':>12}"
    )
    lines = [header, "-" * len(header)]
    for r in runs:
        lines.append(
            f"{r.workers:>7} {r.requests:>9} {r.window_s:>9.1f} {r.rps:>8.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f}"
            f" {r.error_ratio:>6.1%} {r.locust_cpu:>12.0f} {r.locust_cpu_max:>10.0f} {r.gateway_cpu:>13.0f}"
            f" {r.server_cpu:>12.0f}"
        )
    lines.append(
        f"\nrps(2 workers) / rps(1 worker) = {result['rps_2_over_1']} (median over {result['rounds']} round(s)); "
        f"busiest process with 1 worker: {result['bottleneck_1']}, on {result['cpus']} CPU(s). "
        "A ratio near 2 needs the 1-worker run to be limited by its load generator; otherwise it "
        "measures the system under test, not Locust."
    )
    return "\n".join(lines)


def leftovers(marker: str) -> list[int]:
    """Kill and name any process still running from this bench's directory (there should be none)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(marker in part for part in cmdline):
            found.append(process.pid)
            with contextlib.suppress(psutil.Error):
                process.kill()
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round of 6 s runs (under a minute)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = make_settings(args)
    runs: list[RunFigures] = []
    with tempfile.TemporaryDirectory(prefix="workers-scaling-") as workdir:
        try:
            for r in range(settings.rounds):
                order = (1, 2) if r % 2 == 0 else (2, 1)
                by_workers = {w: play(settings, w, Path(workdir)) for w in order}
                runs += [by_workers[1], by_workers[2]]
                print(
                    f"  round {r + 1}/{settings.rounds}: "
                    + ", ".join(f"{w} worker(s) {by_workers[w].rps:.1f} req/s" for w in (1, 2)),
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            if left := leftovers(workdir):
                print(f"warning: killed leftover processes {left}", file=sys.stderr)
    result = figures(settings, args.quick, runs)
    print(table(runs, result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

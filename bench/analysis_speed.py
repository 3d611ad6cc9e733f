"""Time to analyse and render a synthetic 1M-request run; windowed percentiles, ours against the seeds'.

Run: ``python bench/analysis_speed.py [--quick] [--requests N]``.

1. A run directory is synthesised in a temporary directory: ``N`` requests
   (default 1,000,000; log-normal latencies, 1% errors, 1,000 requests per second
   from 500 sessions over 4 workers) and one tool call per request against one
   server whose breaker (the harness's own ``CircuitBreaker``, consecutive policy)
   goes through a 30-second crash window, so the breaker checks have real
   transitions to replay. Tables are written as Parquet, as after ``compact``.
2. ``reports.render_run`` is timed on it: load, analysis (percentiles, HDR,
   coordinated omission, breaker checks) and every report file.
   ``analyse_1m_s`` is that wall time for the 1M-request run.
3. Windowed percentiles (p50/p90/p95/p99 of every 1-second window of the same
   requests), side by side in this run: ours (``reports.windows``: one sort for all
   windows, then positions; best of 3) against the seeds' approach, which filtered
   the window's values and sorted them again for every query
   (``sorted(values)[int(p * n)]``). ``windowed_percentile_speedup`` = seeds' time /
   ours, over the same windows of the same data.

Without ``--quick`` the render time is also split into our analysis (load; the
summary with every figure and check; summary.json, report.md and junit.xml) and
the rest (charts and the HTML page), by timing those steps again one by one.
``--quick`` (under a minute) skips that split and times the seeds' approach on
every 10th window, scaled by the number of windows (the table says so). With
``--requests N`` other than 1M, ``analyse_1m_s`` is scaled linearly to 1M and
``analyse_1m_extrapolated`` says so.

The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.resilience import BreakerConfig, CircuitBreaker
from reports.percentiles import nearest_rank
from reports.render import render_run
from reports.windows import windowed_percentiles

RATE_PER_S = 1000.0
SESSIONS = 500
WORKERS = 4
CRASH = (400.0, 430.0)
PERCENTILES = (50, 90, 95, 99)
T0 = 1_700_000_000.0


def synthesize(run_dir: Path, requests: int, seed: int = 1) -> None:
    """Write a run directory with ``requests`` requests and their tool calls (Parquet)."""
    rng = np.random.default_rng(seed)
    duration = requests / RATE_PER_S
    crash = (min(CRASH[0], duration * 0.4), min(CRASH[1], duration * 0.43))
    t_start = T0 + np.sort(rng.uniform(0.0, duration, requests))
    call_latency = rng.lognormal(np.log(0.02), 0.6, requests)
    call_ok = rng.random(requests) >= 0.01
    outcomes, states, latencies, transitions = _breaker_replay(t_start, call_latency, call_ok, crash)
    failed = outcomes != "ok"
    request_latency = latencies + rng.lognormal(np.log(0.005), 0.3, requests)
    request_ids = np.char.add("r", np.arange(requests).astype(str))
    sessions = rng.integers(0, SESSIONS, requests)
    pd.DataFrame(
        {
            "t_start": t_start,
            "t_intended": t_start,
            "latency_s": request_latency,
            "session_id": np.char.add("s", sessions.astype(str)),
            "name": np.where(sessions % 5 == 0, "health", "agent_turn"),
            "outcome": np.where(failed, "error", "ok"),
            "status": np.where(failed, 502, 200),
            "worker": np.char.add("worker-", (sessions % WORKERS).astype(str)),
            "request_id": request_ids,
            "error": np.where(failed, "tool failed", ""),
        }
    ).to_parquet(run_dir / "events" / "requests.parquet", index=False)
    pd.DataFrame(
        {
            "t_start": t_start,
            "latency_s": latencies,
            "request_id": request_ids,
            "server": "weather",
            "tool": np.where(sessions % 2 == 0, "get_forecast", "get_current_weather"),
            "attempt": 1,
            "outcome": outcomes,
            "breaker_state": states,
            "error": "",
            "session_id": np.char.add("s", sessions.astype(str)),
            "hedge": 0,
        }
    ).to_parquet(run_dir / "events" / "calls.parquet", index=False)
    pd.DataFrame(transitions, columns=["t", "server", "from_state", "to_state", "reason"]).to_parquet(
        run_dir / "events" / "breaker.parquet", index=False
    )
    pd.DataFrame(
        [
            {
                "t_start": T0 + crash[0],
                "t_end": T0 + crash[1],
                "target": "weather",
                "kind": "crash",
                "params": "{}",
                "window": "timeline[0]",
            }
        ]
    ).to_parquet(run_dir / "events" / "faults.parquet", index=False)
    scenario = {
        "version": 1,
        "name": "analysis_speed",
        "seed": seed,
        "system": {
            "servers": {"weather": {}},
            "manager": {"breaker": {"failure_threshold": 5, "recovery_timeout_s": 5.0}},
        },
        "load": {"users": SESSIONS, "duration_s": duration},
        "faults": [
            {"at_s": crash[0], "for_s": crash[1] - crash[0], "target": "weather", "fault": {"kind": "crash"}}
        ],
        "slas": [
            {"name": "p95 under 1 s", "kind": "latency", "percentile": 95, "max_s": 1.0},
            {"name": "errors under 10%", "kind": "error_rate", "max_ratio": 0.1},
        ],
    }
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario), encoding="utf-8")
    run_info: dict[str, Any] = {
        "run_id": run_dir.name,
        "scenario": "analysis_speed",
        "status": "completed",
        "reason": None,
        "t_start": T0 - 1,
        "t_end": T0 + duration + 1,
        "load_t_start": T0,
        "load_t_end": T0 + duration,
        "processes": [],
    }
    (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")


def _breaker_replay(
    t_start: np.ndarray[Any, Any],
    latency: np.ndarray[Any, Any],
    ok: np.ndarray[Any, Any],
    crash: tuple[float, float],
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any], list[dict[str, Any]]]:
    """Play the calls through the harness's breaker (admissions and completions in time order)."""
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=5, recovery_timeout_s=5.0))
    n = t_start.size
    outcomes = np.empty(n, dtype=object)
    states = np.empty(n, dtype=object)
    latencies = latency.copy()
    transitions: list[dict[str, Any]] = []
    pending: list[tuple[float, int, Any, str]] = []

    def publish(moves: list[Any]) -> None:
        for move in moves:
            transitions.append(
                {
                    "t": move.at,
                    "server": "weather",
                    "from_state": str(move.from_state),
                    "to_state": str(move.to_state),
                    "reason": move.reason,
                }
            )

    for i in range(n):
        now = float(t_start[i])
        while pending and pending[0][0] <= now:
            end, j, permit, outcome = heapq.heappop(pending)
            publish(breaker.record(permit, end, outcome, float(latencies[j])))
        permit, moves = breaker.admit(now)
        publish(moves)
        states[i] = str(permit.state)
        if not permit.allowed:
            outcomes[i], latencies[i] = "rejected_open", 1e-5
            continue
        down = crash[0] <= now - T0 < crash[1]
        outcome = "transport_error" if down else ("ok" if ok[i] else "tool_error")
        if down:
            latencies[i] = 0.001
        outcomes[i] = outcome
        heapq.heappush(pending, (now + float(latencies[i]), i, permit, outcome))
    while pending:
        end, j, permit, outcome = heapq.heappop(pending)
        publish(breaker.record(permit, end, outcome, float(latencies[j])))
    return outcomes.astype(str), states.astype(str), latencies, transitions


def seeds_windowed(
    t: np.ndarray[Any, Any], values: np.ndarray[Any, Any], starts: list[float], width: float
) -> list[list[float]]:
    """The seeds' approach: per window and percentile, take the window's values and sort them again."""
    answers = []
    for start in starts:
        row = []
        for p in PERCENTILES:
            window = values[(t >= start) & (t < start + width)].tolist()
            ordered = sorted(window)
            row.append(ordered[min(int(p / 100 * len(ordered)), len(ordered) - 1)])
        answers.append(row)
    return answers


def _phases(run_dir: Path) -> dict[str, float]:
    """Time render_run's own steps again, one by one (charts and HTML are the rest)."""
    from reports.analysis import analyse_breakers
    from reports.load import load_run
    from reports.render import write_report
    from reports.scale import analyse_load
    from reports.sla import evaluate_slas
    from reports.summary import build_summary, time_origin

    began = time.perf_counter()
    run = load_run(run_dir)
    load_s = time.perf_counter() - began
    began = time.perf_counter()
    breakers = analyse_breakers(run)
    load = analyse_load(run)
    windows = breakers.window_dicts(time_origin(run))
    results = evaluate_slas(run.scenario.get("slas"), load.measured, windows, load.sessions)
    summary = build_summary(run, results, None, [], breakers, load)
    summary_s = time.perf_counter() - began
    began = time.perf_counter()
    write_report(summary, run_dir / "report-phases")
    write_s = time.perf_counter() - began
    return {"load_s": load_s, "summary_s": summary_s, "write_s": write_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="finish in under a minute (seeds' approach on a sample of windows)",
    )
    parser.add_argument(
        "--requests", type=int, default=1_000_000, help="requests in the synthetic run (default 1,000,000)"
    )
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="chaosbench-analysis-speed-"))
    try:
        run_dir = tmp / "20240101-000000-analysis_speed"
        (run_dir / "events").mkdir(parents=True)
        began = time.perf_counter()
        synthesize(run_dir, args.requests)
        synth_s = time.perf_counter() - began

        began = time.perf_counter()
        outcome = render_run(run_dir)
        analyse_s = time.perf_counter() - began
        checks = outcome.summary.get("breaker_checks") or []
        failed_checks = [f"{c['server']}:{c['name']}" for c in checks if not c["passed"]]
        phases = {} if args.quick else _phases(run_dir)

        requests = pd.read_parquet(run_dir / "events" / "requests.parquet", columns=["t_start", "latency_s"])
        t = requests["t_start"].to_numpy()
        values = requests["latency_s"].to_numpy()
        width = 1.0
        starts = [T0 + k * width for k in range(math.ceil((t.max() - T0) / width))]
        ours_s = math.inf
        for _ in range(3):
            began = time.perf_counter()
            ours = windowed_percentiles(t, values, T0, width, PERCENTILES)
            ours_s = min(ours_s, time.perf_counter() - began)
        step = 10 if args.quick else 1
        sampled = starts[::step]
        began = time.perf_counter()
        theirs = seeds_windowed(t, values, sampled, width)
        seeds_measured_s = time.perf_counter() - began
        seeds_s = seeds_measured_s * len(starts) / len(sampled)
        # The seeds' rank int(p*n) is not the nearest rank, so ours is checked against the definition.
        by_start = {round(row["t_rel_s"] / width): row for row in ours}
        mismatches = 0
        for start in sampled[:200]:
            inside = np.sort(values[(t >= start) & (t < start + width)])
            row = by_start.get(round((start - T0) / width))
            if inside.size and row is not None:
                expected = [inside[nearest_rank(inside.size, p) - 1] for p in PERCENTILES]
                mismatches += expected != [row[f"p{p}"] for p in PERCENTILES]
        seeds_differ = sum(
            1
            for start, answer in zip(sampled, theirs, strict=True)
            if (row := by_start.get(round((start - T0) / width))) is not None
            and answer != [row[f"p{p}"] for p in PERCENTILES]
        )
        speedup = seeds_s / ours_s if ours_s > 0 else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    rows = [
        ("requests in the synthetic run", f"{args.requests:,}"),
        ("synthesising the run (not timed below)", f"{synth_s:.1f} s"),
        ("render_run: load + analyse + write every report file", f"{analyse_s:.2f} s"),
        *(
            [
                ("  of which: load the run directory", f"{phases['load_s']:.2f} s"),
                (
                    "  of which: analysis (percentiles, HDR, correction, breaker checks)",
                    f"{phases['summary_s']:.2f} s",
                ),
                ("  of which: summary.json, report.md, junit.xml", f"{phases['write_s']:.2f} s"),
                (
                    "  of which: charts and report.html (the rest)",
                    f"{max(0.0, analyse_s - sum(phases.values())):.2f} s",
                ),
            ]
            if phases
            else [("  split into steps", "n/a with --quick")]
        ),
        ("breaker checks failed on the synthetic run", ", ".join(failed_checks) or "none"),
        (
            f"windowed percentiles, ours ({len(starts)} windows x {len(PERCENTILES)} percentiles)",
            f"{ours_s * 1000:.1f} ms",
        ),
        (
            "windowed percentiles, seeds' sort per query"
            + (
                f" (timed on {len(sampled)} windows, scaled x{len(starts) / len(sampled):.0f})"
                if step > 1
                else ""
            ),
            f"{seeds_s * 1000:.1f} ms",
        ),
        ("speedup (seeds / ours)", f"{speedup:.1f}x" if speedup else "n/a"),
        (
            "our windows checked against sort + nearest rank",
            f"{min(200, len(sampled))}, {mismatches} mismatches",
        ),
        ("windows where the seeds' int(p*n) rank gives another value", f"{seeds_differ} of {len(sampled)}"),
    ]
    width_col = max(len(name) for name, _ in rows)
    print(
        f"analysis_speed ({platform.python_implementation()} {platform.python_version()}, numpy {np.__version__})"
    )
    for name, value in rows:
        print(f"  {name:<{width_col}}  {value}")
    result = {
        "bench": "analysis_speed",
        "requests": args.requests,
        "analyse_1m_s": round(analyse_s * 1_000_000 / args.requests, 3)
        if args.requests != 1_000_000
        else round(analyse_s, 3),
        "analyse_s": round(analyse_s, 3),
        **{key: round(value, 3) for key, value in phases.items()},
        "analyse_1m_extrapolated": args.requests != 1_000_000,
        "windowed_percentile_speedup": round(speedup, 1) if speedup else None,
        "windowed_ours_ms": round(ours_s * 1000, 2),
        "windowed_seeds_ms": round(seeds_s * 1000, 1),
        "windows": len(starts),
        "seeds_sampled_windows": len(sampled),
        "ours_mismatches": mismatches,
        "breaker_checks_failed": failed_checks,
        "quick": args.quick,
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

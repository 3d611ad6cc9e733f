"""The verdict and the figures of a run, as the ``summary.json`` document.

``summary.json`` is the machine-readable record of a run; ``report.md`` and the
CLI's verdict block are rendered from it, so the three never disagree. Shape
(``schema_version`` 1)::

    {"schema_version": 1, "run_id", "scenario", "status", "reason",
     "verdict": "pass" | "fail" | "error", "exit_code": 0 | 1 | 3,
     "t0": load start (epoch s) that relative times count from, or null,
     "slas": [{"name", "kind", "passed", "measured", "threshold", "unit", "detail"}],
     "requests": {"total", "by_outcome": {outcome: n}, "error_rate", "duration_s",
                  "throughput_rps", "latency_s": {count, mean, min, p50, p90, p95, p99, max},
                  "latency_corrected_s": {the same keys, corrected for coordinated omission}},
     "availability": ok / (ok + error + timeout) | null,
     "error_budget": {"sla", "request", "allowed_error_rate", "error_rate", "failed_requests",
                      "allowed_failed_requests", "consumed", "remaining", "exhausted"} | null,
     "percentiles": {"definition", "by_window": {"window_s", "windows": [{"t_rel_s", "count",
                     "p50", "p90", "p95", "p99", "max", "errors"}]},
                     "by_server": [{"server", count, mean, min, p50..p99, max}],
                     "by_server_tool": [{"server", "tool", ...the same}],
                     "hdr": {"unit_s", "significant_digits", "relative_error",
                             "run" | "corrected" | "by_worker": {worker: ...}: {summary keys,
                             "p99.9", "clamped", "encoded": HdrHistogram V2 base64}},
                     "coordinated_omission": {"model", "method", "expected_interval_s",
                                              "synthetic_count", "exact"}},
     "by_name": {name: {"total", "by_outcome", "error_rate", "latency_s"}},
     "calls": {"total", "by_server_tool_outcome": [{"server", "tool", "outcome", "count",
                                                   "p50_s", "p95_s", "max_s"}]},
     "breaker": {"transitions": [{"t", "t_rel_s", "server", "from_state", "to_state", "reason"}],
                 "final_state": {server: state}},
     "breaker_checks": [{"name", "server", "passed", "detail", "violation_count",
                         "violations": [{"t", "t_rel_s", "message"}]}],
     "breaker_config": {server: the breaker settings it was checked against},
     "breaker_recovery": [{"target", "kind", "window", "t_start", "t_end", "t_start_rel_s",
                           "t_end_rel_s", "opened", "t_open", "time_to_open_s", "t_closed",
                           "time_to_close_s", "detail"}],
     "faults": [{"t_start", "t_end", "t_start_rel_s", "t_end_rel_s", "target", "kind", "params"}],
     "locust": {"file", "by_name": {name: {...seconds...}}} | null,
     "samples": {process: {"count", "cpu_percent_mean", "rss_bytes_max"}},
     "warnings": [str]}

Latency figures are over requests whose outcome is not ``dropped``; throughput is
those requests per second of load (``load_t_end - load_t_start`` from run.json,
else the span of the requests). Missing numbers are ``null``, never NaN.
:mod:`reports.analysis` defines the percentile, availability and error-budget
figures, :mod:`reports.breaker_check` the breaker checks and :mod:`reports.recovery`
the fault-window figures. A failed breaker check fails the verdict as an SLA does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports.analysis import BreakerAnalysis, analyse_breakers, availability, error_budget, percentile_figures
from reports.load import RunData
from reports.locust_csv import LocustStats
from reports.percentiles import is_finite_number, percentile, summarize_latency
from reports.sla import SlaResult, error_counts

__all__ = ["ERROR_STATUSES", "SCHEMA_VERSION", "build_summary", "decide_verdict", "time_origin"]

SCHEMA_VERSION = 1
ERROR_STATUSES = frozenset({"failed", "interrupted", "running"})
"""Run statuses meaning the harness did not finish the run as planned: verdict ``error``, exit 3."""

_KNOWN_OUTCOMES = ("ok", "error", "timeout", "dropped")


def decide_verdict(
    status: str, results: Sequence[SlaResult], breaker_checks: Sequence[Mapping[str, Any]] = ()
) -> tuple[str, int]:
    """Return ``(verdict, exit_code)``: ``error``/3 for a broken run, else ``pass``/0 or ``fail``/1.

    A run that failed, was interrupted or never finished (``running``) gets
    ``error`` whatever its SLAs say: its figures cover less than the scenario asked
    for. Otherwise every SLA and every breaker check must hold (a breaker that
    broke its own contract fails the run like a missed SLA); a scenario without
    SLAs passes on its breaker checks.
    """
    if status in ERROR_STATUSES:
        return "error", 3
    if all(result.passed for result in results) and all(check["passed"] for check in breaker_checks):
        return "pass", 0
    return "fail", 1


def time_origin(run: RunData) -> float | None:
    """The instant relative times count from: load start, else first request, else run start."""
    load_start = run.run_info.get("load_t_start")
    if is_finite_number(load_start):
        return float(load_start)
    first_request = run.requests["t_start"].min()
    if is_finite_number(first_request):
        return float(first_request)
    run_start = run.run_info.get("t_start")
    return float(run_start) if is_finite_number(run_start) else None


def build_summary(
    run: RunData,
    results: Sequence[SlaResult],
    locust: LocustStats | None = None,
    extra_warnings: Sequence[str] = (),
    breakers: BreakerAnalysis | None = None,
) -> dict[str, Any]:
    """Assemble the ``summary.json`` document (see the module docstring for its shape).

    ``breakers`` is the run's breaker verification when the caller already has it
    (it also feeds the breaker SLAs); otherwise it is computed here.
    """
    status = str(run.run_info.get("status") or "unknown")
    t0 = time_origin(run)
    breakers = breakers if breakers is not None else analyse_breakers(run)
    breaker_checks = breakers.check_dicts(t0)
    verdict, exit_code = decide_verdict(status, results, breaker_checks)
    warnings = [*run.warnings, *extra_warnings, *breakers.warnings, *_request_warnings(run.requests)]
    requests = _requests_summary(run)
    percentiles, correction = percentile_figures(run, t0, requests["duration_s"])
    requests["latency_corrected_s"] = dict(correction.summary)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_info.get("run_id") or run.run_dir.name,
        "scenario": run.scenario.get("name") or run.run_info.get("scenario"),
        "status": status,
        "reason": run.run_info.get("reason"),
        "verdict": verdict,
        "exit_code": exit_code,
        "t0": t0,
        "slas": [result.to_dict() for result in results],
        "requests": requests,
        "availability": availability(run.requests),
        "error_budget": error_budget(run.scenario.get("slas"), run.requests),
        "percentiles": percentiles,
        "by_name": {
            (str(name) if isinstance(name, str) else "(no name)"): _request_group(group)
            for name, group in run.requests.groupby("name", sort=True, dropna=False)
        },
        "calls": _calls_summary(run.calls),
        "breaker": _breaker_summary(run.breaker, run.calls, t0),
        "breaker_checks": breaker_checks,
        "breaker_config": {server: spec.to_dict() for server, spec in sorted(breakers.specs.items())},
        "breaker_recovery": breakers.window_dicts(t0),
        "faults": _faults_summary(run.faults, t0),
        "locust": locust.to_dict() if locust is not None else None,
        "samples": _samples_summary(run.samples),
        "warnings": warnings,
    }
    safe: dict[str, Any] = json_safe(summary)
    return safe


def json_safe(value: Any) -> Any:
    """Convert numpy/pandas scalars to Python ones and NaN/inf/NA to ``None``, recursively."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, str):
        return value
    return str(value)


def _request_group(frame: pd.DataFrame) -> dict[str, Any]:
    counts = error_counts(frame)
    counted = sum(counts.values())
    return {
        "total": len(frame),
        "by_outcome": _outcome_counts(frame),
        "error_rate": (counts["error"] + counts["timeout"]) / counted if counted else None,
        "latency_s": summarize_latency(_completed_latencies(frame)),
    }


def _outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Every known outcome (0 when absent, so the shape is stable), then any unknown ones."""
    counts = {outcome: 0 for outcome in _KNOWN_OUTCOMES}
    for outcome, count in frame["outcome"].value_counts(dropna=False).items():
        counts[str(outcome)] = int(count)
    return counts


def _requests_summary(run: RunData) -> dict[str, Any]:
    frame = run.requests
    summary = _request_group(frame)
    duration = _load_duration(run)
    completed = summary["latency_s"]["count"]
    summary["duration_s"] = duration
    summary["throughput_rps"] = completed / duration if duration else None
    return summary


def _completed_latencies(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    latencies = frame.loc[frame["outcome"] != "dropped", "latency_s"]
    return latencies.dropna().to_numpy(dtype=np.float64)


def _load_duration(run: RunData) -> float | None:
    """Seconds of load: from run.json when it has both ends, else the span of the requests."""
    start, end = run.run_info.get("load_t_start"), run.run_info.get("load_t_end")
    if is_finite_number(start) and is_finite_number(end) and float(end) > float(start):
        return float(end) - float(start)
    frame = run.requests.dropna(subset=["t_start"])
    if frame.empty:
        return None
    first = float(frame["t_start"].min())
    last = float((frame["t_start"] + frame["latency_s"].fillna(0.0)).max())
    return last - first if last > first else None


def _calls_summary(calls: pd.DataFrame) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    keys = ["server", "tool", "outcome"]
    for key, group in calls.groupby(keys, sort=True, dropna=False):
        latencies = np.sort(group["latency_s"].dropna().to_numpy(dtype=np.float64))
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        row["count"] = len(group)
        row["p50_s"] = percentile(latencies, 50) if latencies.size else None
        row["p95_s"] = percentile(latencies, 95) if latencies.size else None
        row["max_s"] = float(latencies[-1]) if latencies.size else None
        rows.append(row)
    return {"total": len(calls), "by_server_tool_outcome": rows}


def _breaker_summary(breaker: pd.DataFrame, calls: pd.DataFrame, t0: float | None) -> dict[str, Any]:
    """Transitions in time order, and each server's last state.

    A breaker starts closed, so a server seen in ``calls`` without any transition
    is reported ``closed``.
    """
    ordered = breaker.sort_values("t", kind="stable", na_position="first")
    transitions = []
    for row in ordered.to_dict("records"):
        t = row.get("t")
        transitions.append(
            {
                "t": t,
                "t_rel_s": float(t) - t0 if t0 is not None and is_finite_number(t) else None,
                "server": row.get("server"),
                "from_state": row.get("from_state"),
                "to_state": row.get("to_state"),
                "reason": row.get("reason"),
            }
        )
    final_state = {str(server): "closed" for server in calls["server"].dropna().unique()}
    for transition in transitions:
        if transition["server"] is not None and isinstance(transition["to_state"], str):
            final_state[str(transition["server"])] = transition["to_state"]
    return {"transitions": transitions, "final_state": dict(sorted(final_state.items()))}


def _faults_summary(faults: pd.DataFrame, t0: float | None) -> list[dict[str, Any]]:
    rows = []
    for row in faults.sort_values("t_start", kind="stable").to_dict("records"):
        start, end = row.get("t_start"), row.get("t_end")
        rows.append(
            {
                "t_start": start,
                "t_end": end,
                "t_start_rel_s": float(start) - t0 if t0 is not None and is_finite_number(start) else None,
                "t_end_rel_s": float(end) - t0 if t0 is not None and is_finite_number(end) else None,
                "target": row.get("target"),
                "kind": row.get("kind"),
                "params": row.get("params"),
            }
        )
    return rows


def _samples_summary(samples: pd.DataFrame) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for process, group in samples.groupby("process", sort=True):
        cpu = group["cpu_percent"].dropna()
        rss = group["rss_bytes"].dropna()
        summary[str(process)] = {
            "count": len(group),
            "cpu_percent_mean": float(cpu.mean()) if len(cpu) else None,
            "rss_bytes_max": int(rss.max()) if len(rss) else None,
        }
    return summary


def _request_warnings(requests: pd.DataFrame) -> list[str]:
    """Say so when some requests count nowhere: unknown outcomes, or completed ones without a latency."""
    unknown = requests.loc[~requests["outcome"].isin(_KNOWN_OUTCOMES), "outcome"]
    warnings = [
        f"requests: {int(count)} row(s) with unknown outcome {str(outcome)!r} are left out of error rates"
        for outcome, count in unknown.value_counts(dropna=False).items()
    ]
    no_latency = int((requests["latency_s"].isna() & (requests["outcome"] != "dropped")).sum())
    if no_latency:
        warnings.append(f"requests: {no_latency} non-dropped row(s) have no latency_s; left out of latencies")
    return warnings

"""The verdict and the figures of a run, as the ``summary.json`` document.

``summary.json`` is the machine-readable record of a run; ``report.md`` and the
CLI's verdict block are rendered from it, so the three never disagree. Shape
(``schema_version`` 1)::

    {"schema_version": 1, "run_id", "scenario", "status", "reason",
     "verdict": "pass" | "fail" | "error", "exit_code": 0 | 1 | 3,
     "verdict_reasons": [why the verdict is not pass, most important first; [] on pass],
     "trustworthy": false when the load generator was saturated (see load_generator),
     "t0": load start (epoch s) that relative times count from, or null,
     "slas": [{"name", "kind", "passed", "measured", "threshold", "unit", "detail", "comparison"}],
     "warmup": {"warmup_s", "t_end", "t_end_rel_s", "requests_excluded", "by_outcome"},
     "requests": {"total", "by_outcome": {outcome: n}, "dropped_by_reason": {reason: n} (when
                  recorded), "error_rate", "duration_s" (after the warm-up), "load_duration_s",
                  "throughput_rps", "latency_s": {count, mean, min, p50, p90, p95, p99, max},
                  "latency_corrected_s": {the same keys, corrected for coordinated omission}},
     "load_generator": {"saturated": bool | null, "max_cpu_percent", "p90_cpu_percent",
                        "processes": {process: {"samples", "busy_samples", "busy_share",
                        "max_cpu_percent", "p90_cpu_percent", "mean_cpu_percent", "saturated"}},
                        "detail", "rule", "host": {"cpu_count", "seconds", "busy_seconds",
                        "max_percent", "p50_percent", "busy"} | null},
     "sessions": {"column", "peak_target", "ramp_end_s", "ramp_end_source", "window_start_s",
                  "window_end_s", "seconds", "min_after_ramp_up", "max_after_ramp_up", "detail"},
     "capacity": {"steps": [{"index", "users", "t_start", "t_end", "t_start_rel_s", "t_end_rel_s",
                  "played", "requests", "completed", "rps", "p50_s", "p95_s", "p99_s", "error_rate",
                  "held", "failed_slas", "slas", "generator_saturated"}], "capacity_users",
                  "capacity_rps", "broke_at_users", "knee_users", "generator_saturated_at_users",
                  "trustworthy", "slas_checked_per_step", "detail", "knee_definition"} | null,
     "open_model": {"arrivals", "started_sessions", "not_started", "not_started_ratio",
                    "arrival_rate_per_s", "planned_arrival_rate_per_s", "max_sessions",
                    "drop_reason_recorded"} | null,
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
     "by_session_type": [{"session_type", "role", "token", "requests", "rps", "p95_s", "errors",
                          "status_401", "status_403"}] (reports/session_types.py),
     "final_metrics": {"available", "agree", "tool_calls_metrics", "tool_calls_table",
                       "mismatches", "detail"} (metrics/final.prom against calls; reports/final_metrics.py),
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

Every headline figure (``requests``, ``by_name``, ``availability``,
``error_budget``, ``percentiles``) and every SLA counts only the requests started
after the warm-up (:mod:`reports.warmup`); ``warmup`` says how many were left out.
Latency figures are over requests whose outcome is not ``dropped``; throughput is
those requests per second of measured load (``load_t_end - load_t_start`` from
run.json less the warm-up, else the span of the requests). :mod:`reports.scale`
defines the load blocks. Missing numbers are ``null``, never NaN.
:mod:`reports.analysis` defines the percentile, availability and error-budget
figures, :mod:`reports.breaker_check` the breaker checks and :mod:`reports.recovery`
the fault-window figures. A failed breaker check fails the verdict as an SLA does,
and so does an untrustworthy run (a saturated load generator) and a capacity
search whose first step already broke; in a capacity run the generator counts
only at or below the capacity found (:mod:`reports.capacity`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reports.analysis import BreakerAnalysis, analyse_breakers, availability, error_budget, percentile_figures
from reports.final_metrics import check_final_metrics
from reports.load import RunData
from reports.locust_csv import LocustStats
from reports.percentiles import is_finite_number, percentile, summarize_latency
from reports.scale import LoadAnalysis, analyse_load
from reports.session_types import by_session_type
from reports.sla import SlaResult, error_counts
from reports.warmup import load_start

__all__ = [
    "ERROR_STATUSES",
    "SCHEMA_VERSION",
    "build_summary",
    "decide_verdict",
    "failure_reasons",
    "time_origin",
]

SCHEMA_VERSION = 1
ERROR_STATUSES = frozenset({"failed", "interrupted", "running"})
"""Run statuses meaning the harness did not finish the run as planned: verdict ``error``, exit 3."""

_KNOWN_OUTCOMES = ("ok", "error", "timeout", "dropped")


def decide_verdict(
    status: str,
    results: Sequence[SlaResult],
    breaker_checks: Sequence[Mapping[str, Any]] = (),
    load_failures: Sequence[str] = (),
) -> tuple[str, int]:
    """Return ``(verdict, exit_code)``: ``error``/3 for a broken run, else ``pass``/0 or ``fail``/1.

    A run that failed, was interrupted or never finished (``running``) gets
    ``error`` whatever its SLAs say: its figures cover less than the scenario asked
    for. Otherwise every SLA and every breaker check must hold (a breaker that
    broke its own contract fails the run like a missed SLA), and the load must
    raise no failure (``load_failures``: an untrustworthy run, a capacity search
    without a capacity); a scenario without SLAs passes on the rest.
    """
    if status in ERROR_STATUSES:
        return "error", 3
    if (
        not load_failures
        and all(result.passed for result in results)
        and all(check["passed"] for check in breaker_checks)
    ):
        return "pass", 0
    return "fail", 1


def failure_reasons(
    status: str,
    reason: object,
    load_failures: Sequence[str],
    slas: Sequence[Mapping[str, Any]],
    breaker_checks: Sequence[Mapping[str, Any]],
) -> list[str]:
    """Every reason the verdict is not PASS, most important first: a broken run; else the load's
    failures (untrustworthy first), failed SLAs, failed breaker checks. Empty when it passes."""
    if status in ERROR_STATUSES:
        return [f"the run {status}" + (f": {reason}" if reason else "")]
    reasons = list(load_failures)
    reasons += [_failed(f"SLA {sla['name']!r}", sla.get("detail")) for sla in slas if not sla["passed"]]
    reasons += [
        _failed(f"breaker check {check['server']}: {check['name']}", check.get("detail"))
        for check in breaker_checks
        if not check["passed"]
    ]
    return reasons


def _failed(what: str, detail: object) -> str:
    return f"{what} failed: {detail}" if detail else f"{what} failed"


def time_origin(run: RunData) -> float | None:
    """The instant relative times count from: load start, else first request, else run start."""
    return load_start(run)


def build_summary(
    run: RunData,
    results: Sequence[SlaResult],
    locust: LocustStats | None = None,
    extra_warnings: Sequence[str] = (),
    breakers: BreakerAnalysis | None = None,
    load: LoadAnalysis | None = None,
) -> dict[str, Any]:
    """Assemble the ``summary.json`` document (see the module docstring for its shape).

    ``breakers`` is the run's breaker verification and ``load`` its load analysis
    when the caller already has them (they also feed the SLAs); otherwise they are
    computed here. ``results`` should have been evaluated on ``load.measured``.
    """
    status = str(run.run_info.get("status") or "unknown")
    t0 = time_origin(run)
    breakers = breakers if breakers is not None else analyse_breakers(run)
    load = load if load is not None else analyse_load(run)
    breaker_checks = breakers.check_dicts(t0)
    load_failures = load.verdict_failures()
    verdict, exit_code = decide_verdict(status, results, breaker_checks, load_failures)
    slas = [result.to_dict() for result in results]
    warnings = [
        *run.warnings,
        *extra_warnings,
        *breakers.warnings,
        *load.warnings(),
        *_request_warnings(run.requests),
    ]
    final_metrics = check_final_metrics(run.run_dir, run.calls)
    if final_metrics["agree"] is False:
        warnings.append(f"final metrics: {final_metrics['detail']}")
    measured = load.measured
    requests = _requests_summary(measured, load)
    percentiles, correction = percentile_figures(run, t0, requests["duration_s"], measured)
    requests["latency_corrected_s"] = dict(correction.summary)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_info.get("run_id") or run.run_dir.name,
        "scenario": run.scenario.get("name") or run.run_info.get("scenario"),
        "status": status,
        "reason": run.run_info.get("reason"),
        "verdict": verdict,
        "exit_code": exit_code,
        "verdict_reasons": failure_reasons(
            status, run.run_info.get("reason"), load_failures, slas, breaker_checks
        ),
        "trustworthy": load.trustworthy,
        "t0": t0,
        "slas": slas,
        "requests": requests,
        "availability": availability(measured),
        "error_budget": error_budget(run.scenario.get("slas"), measured),
        "percentiles": percentiles,
        "by_name": {
            (str(name) if isinstance(name, str) else "(no name)"): _request_group(group)
            for name, group in measured.groupby("name", sort=True, dropna=False)
        },
        "by_session_type": by_session_type(measured, requests["duration_s"], run.scenario),
        "calls": _calls_summary(run.calls),
        "final_metrics": final_metrics,
        "breaker": _breaker_summary(run.breaker, run.calls, t0),
        "breaker_checks": breaker_checks,
        "breaker_config": {server: spec.to_dict() for server, spec in sorted(breakers.specs.items())},
        "breaker_recovery": breakers.window_dicts(t0),
        "faults": _faults_summary(run.faults, t0),
        "locust": locust.to_dict() if locust is not None else None,
        "samples": _samples_summary(run.samples),
        **load.blocks(t0),
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
    group: dict[str, Any] = {
        "total": len(frame),
        "by_outcome": _outcome_counts(frame),
        "error_rate": (counts["error"] + counts["timeout"]) / counted if counted else None,
        "latency_s": summarize_latency(_completed_latencies(frame)),
    }
    if "drop_reason" in frame.columns:
        dropped = frame.loc[frame["outcome"] == "dropped", "drop_reason"]
        reasons = dropped.map(lambda r: r if isinstance(r, str) and r else "unknown").value_counts()
        group["dropped_by_reason"] = {str(r): int(n) for r, n in reasons.sort_index().items()}
    return group


def _outcome_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Every known outcome (0 when absent, so the shape is stable), then any unknown ones."""
    counts = {outcome: 0 for outcome in _KNOWN_OUTCOMES}
    for outcome, count in frame["outcome"].value_counts(dropna=False).items():
        counts[str(outcome)] = int(count)
    return counts


def _requests_summary(measured: pd.DataFrame, load: LoadAnalysis) -> dict[str, Any]:
    summary = _request_group(measured)
    duration = load.duration_s()
    if duration is None:
        duration = _span(measured)
    completed = summary["latency_s"]["count"]
    summary["duration_s"] = duration
    summary["load_duration_s"] = (
        load.end - load.origin
        if load.end is not None and load.origin is not None and load.end > load.origin
        else duration
    )
    summary["throughput_rps"] = completed / duration if duration else None
    return summary


def _completed_latencies(frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    latencies = frame.loc[frame["outcome"] != "dropped", "latency_s"]
    return latencies.dropna().to_numpy(dtype=np.float64)


def _span(requests: pd.DataFrame) -> float | None:
    """Seconds from the first request's start to the last one's end (when run.json lacks the load's ends)."""
    frame = requests.dropna(subset=["t_start"])
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
    """CPU and memory per process, from the resource rows (Locust's own gauge rows carry neither)."""
    summary: dict[str, Any] = {}
    resources = samples.loc[samples["cpu_percent"].notna() | samples["rss_bytes"].notna()]
    for process, group in resources.groupby("process", sort=True):
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

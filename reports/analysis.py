"""The figures ``summary.json`` adds beyond counts: percentiles by window, server and tool,
HDR histograms, the coordinated-omission correction, availability, the error budget
and the breaker verification.

Definitions:

- Percentiles are exact nearest-rank (``docs/architecture.md``) over requests that
  were not dropped; per time window by request start (:mod:`reports.windows`); per
  server and tool over attempts that reached the server and answered or failed
  (``ok``, ``tool_error``, ``transport_error``, ``timeout``).
- HDR histograms (:mod:`reports.hdr`) are kept per Locust worker and for the run;
  the run's is the merge of the workers'.
- ``availability`` = ``ok / (ok + error + timeout)`` over requests (``dropped`` and
  unknown outcomes count on neither side), so it is ``1 - error_rate``.
- ``error_budget``: with an ``error_rate`` SLA (the first one without a ``request``
  filter, else the first one) allowing ``max_ratio``, ``consumed`` =
  ``error_rate / max_ratio`` (1.0 = the budget is spent; above 1 the SLA fails) and
  ``remaining`` = ``1 - consumed``; ``null`` without such an SLA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.breaker_check import TOLERANCE_S, BreakerCheck, verify_breakers
from reports.breaker_policy import BreakerSpec
from reports.hdr import DEFAULT_LAYOUT, RELATIVE_ERROR, UNIT_S, HdrHistogram
from reports.load import RunData
from reports.omission import OmissionCorrection, correct_for_coordinated_omission
from reports.percentiles import is_finite_number, summarize_latency
from reports.recovery import FaultWindow, fault_windows, recovery_figures
from reports.sla import error_counts
from reports.windows import choose_window_s, grouped_percentiles, windowed_percentiles

__all__ = [
    "ANSWERED_OUTCOMES",
    "PERCENTILE_DEFINITION",
    "BreakerAnalysis",
    "analyse_breakers",
    "availability",
    "error_budget",
    "percentile_figures",
]

ANSWERED_OUTCOMES = ("ok", "tool_error", "transport_error", "timeout")
PERCENTILE_DEFINITION = (
    "nearest rank: for sorted values x[1..n] the p-th percentile is x[ceil(p/100*n)], exact; "
    "HDR figures are the same rank over 3-significant-digit buckets (highest equivalent value)"
)


@dataclass
class BreakerAnalysis:
    """The breaker verification of a run: checks, the spec each server was checked against, fault windows."""

    checks: list[BreakerCheck] = field(default_factory=list)
    specs: dict[str, BreakerSpec] = field(default_factory=dict)
    windows: list[FaultWindow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def window_dicts(self, t0: float | None) -> list[dict[str, Any]]:
        return [window.to_dict(t0) for window in self.windows]

    def check_dicts(self, t0: float | None) -> list[dict[str, Any]]:
        return [check.to_dict(t0) for check in self.checks]


def analyse_breakers(run: RunData, tolerance_s: float = TOLERANCE_S) -> BreakerAnalysis:
    """Verify every server's breaker and measure its answer to each fault window."""
    checks, specs, warnings = verify_breakers(run.scenario, run.calls, run.breaker, tolerance_s)
    windows = recovery_figures(
        fault_windows(run.faults, run.scenario, run.run_info), run.breaker, tolerance_s
    )
    return BreakerAnalysis(checks, specs, windows, warnings)


def availability(requests: pd.DataFrame) -> float | None:
    """``ok / (ok + error + timeout)``, ``None`` without such requests."""
    counts = error_counts(requests)
    total = sum(counts.values())
    return counts["ok"] / total if total else None


def error_budget(slas: Sequence[Mapping[str, Any]] | None, requests: pd.DataFrame) -> dict[str, Any] | None:
    """How much of the error-rate SLA's allowance the run used (see the module docstring)."""
    candidates = [s for s in slas or [] if isinstance(s, Mapping) and s.get("kind") == "error_rate"]
    candidates = [s for s in candidates if is_finite_number(s.get("max_ratio"))]
    if not candidates:
        return None
    sla = next((s for s in candidates if s.get("request") is None), candidates[0])
    selected = requests if sla.get("request") is None else requests[requests["name"] == str(sla["request"])]
    counts = error_counts(selected)
    total = sum(counts.values())
    allowed = float(sla["max_ratio"])
    rate = (counts["error"] + counts["timeout"]) / total if total else None
    consumed = None if rate is None else (rate / allowed if allowed > 0 else (0.0 if rate == 0 else None))
    return {
        "sla": sla.get("name"),
        "request": sla.get("request"),
        "allowed_error_rate": allowed,
        "error_rate": rate,
        "failed_requests": counts["error"] + counts["timeout"],
        "allowed_failed_requests": allowed * total,
        "consumed": consumed,
        "remaining": None if consumed is None else 1.0 - consumed,
        "exhausted": None if rate is None else rate > allowed,
    }


def percentile_figures(
    run: RunData, t0: float | None, duration_s: float | None, measured: pd.DataFrame | None = None
) -> tuple[dict[str, Any], OmissionCorrection]:
    """``summary.json``'s ``percentiles`` block, and the coordinated-omission correction.

    ``measured`` are the requests the figures count (after the warm-up; default all):
    the HDR histograms, the correction and the per-window percentiles use them, so
    a warm-up window shows no percentiles.
    """
    requests = run.requests if measured is None else measured
    done = requests.loc[
        (requests["outcome"] != "dropped") & requests["latency_s"].notna() & requests["t_start"].notna()
    ]
    latency = done["latency_s"].to_numpy(dtype=np.float64)
    window_s = choose_window_s(duration_s)
    origin = t0 if t0 is not None else (float(done["t_start"].min()) if len(done) else 0.0)
    windows = windowed_percentiles(done["t_start"].to_numpy(dtype=np.float64), latency, origin, window_s)
    failed = done["outcome"].isin(("error", "timeout")).to_numpy()
    if windows:
        index = np.floor((done["t_start"].to_numpy(dtype=np.float64) - origin) / window_s).astype(np.int64)
        errors = pd.Series(failed).groupby(index).sum()
        for row in windows:
            row["errors"] = int(errors.get(round(row["t_rel_s"] / window_s), 0))
    correction = correct_for_coordinated_omission(requests)
    by_worker: dict[str, HdrHistogram] = {}
    for worker, group in done.groupby("worker", sort=True, dropna=False):
        name = str(worker) if isinstance(worker, str) and worker else "(no worker)"
        by_worker[name] = HdrHistogram.from_seconds(group["latency_s"].to_numpy(dtype=np.float64))
    merged = HdrHistogram.merged(by_worker.values())
    figures: dict[str, Any] = {
        "definition": PERCENTILE_DEFINITION,
        "by_window": {"window_s": window_s, "windows": windows},
        "by_server": _calls_percentiles(run.calls, ["server"]),
        "by_server_tool": _calls_percentiles(run.calls, ["server", "tool"]),
        "hdr": {
            "unit_s": UNIT_S,
            "significant_digits": DEFAULT_LAYOUT.significant_digits,
            "relative_error": RELATIVE_ERROR,
            "run": merged.to_dict(),
            "by_worker": {name: histogram.to_dict() for name, histogram in by_worker.items()},
            "corrected": correction.histogram.to_dict(),
        },
        "coordinated_omission": correction.to_dict(),
    }
    return figures, correction


def _calls_percentiles(calls: pd.DataFrame, keys: list[str]) -> list[dict[str, Any]]:
    answered = calls.loc[calls["outcome"].isin(ANSWERED_OUTCOMES) & calls["latency_s"].notna()]
    if answered.empty:
        return []
    grouped = answered.groupby(keys, sort=True, dropna=False)
    codes = grouped.ngroup().to_numpy(dtype=np.int64)
    names = [key if isinstance(key, tuple) else (key,) for key in grouped.size().index.tolist()]
    ids, counts, table, minima, maxima = grouped_percentiles(
        codes, answered["latency_s"].to_numpy(dtype=np.float64)
    )
    means = np.bincount(codes, weights=answered["latency_s"].to_numpy(dtype=np.float64)) / np.bincount(codes)
    rows: list[dict[str, Any]] = []
    for position, code in enumerate(ids.tolist()):
        row: dict[str, Any] = {key: str(value) for key, value in zip(keys, names[code], strict=True)}
        row.update(
            {
                "count": int(counts[position]),
                "mean": float(means[code]),
                "min": float(minima[position]),
                "p50": float(table[position, 0]),
                "p90": float(table[position, 1]),
                "p95": float(table[position, 2]),
                "p99": float(table[position, 3]),
                "max": float(maxima[position]),
            }
        )
        rows.append(row)
    return rows


def summarize_corrected(correction: OmissionCorrection) -> dict[str, Any]:
    """The corrected latency summary (same keys as ``latency_s``)."""
    return dict(correction.summary) if correction.summary else dict(summarize_latency([]))

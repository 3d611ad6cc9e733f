"""Comparing runs (configuration tunings): ``chaosbench compare RUN_DIR RUN_DIR [...]``.

The first run is the baseline; every other run is set against it. Each run is
analysed exactly as its report is (:func:`reports.render.analyse_run`, in memory;
nothing in the run directories is written), so the figures are the report's:
see :mod:`reports.compare_facts` for what is taken from each run and
:mod:`reports.compare_delta` for the differences, directions, the call and the
gates. ``compare.json`` (:func:`compare_runs`; schema version 1)::

    {"schema_version": 1, "baseline": run_id,
     "runs": [run_facts + {"label", "config"?}],        # config: flattened scenario.yaml (internal)
     "comparisons": [{"run_id", "label", "metrics": [delta rows], "call", "better", "worse",
                      "verdict_changed", "config": [{"key", "baseline", "value"}]}],
     "slas": [{"name", "unit", "results": [{"passed", "measured"} | null per run]}],
     "bootstrap": {"resamples", "seed", "confidence"},
     "gates": [{"spec", "metric", "max_worse_pct", "results": [{"run", "worse_pct", "passed", "detail"}]}],
     "gates_passed": bool | null,
     "warnings": [str]}

Intervals: percentile-bootstrap intervals of the difference ``run - baseline``
(default 95%, 2000 resamples, ``numpy.random.default_rng(seed)``) for the
latency percentiles, error rate, availability and throughput, each run
resampled independently and never row by row, to stay fast on million-request runs:

- latency percentiles: the run's HDR histogram (:mod:`reports.hdr`) resampled as
  a multinomial draw of its ``n`` counts (resampling the requests with
  replacement at the histogram's 3-significant-digit resolution);
- error rate and availability: a binomial draw of the failed requests among the
  counted ones;
- throughput: completed requests per 1-second bin, the bins resampled with
  replacement (resampling requests would keep their number fixed).

Point figures are exact; the intervals come from the resamples, so at the
histogram's resolution (0.1%) an interval may sit that much off its point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reports.compare_delta import METRICS, Gate, call, check_gate, config_differences, delta, sla_rows
from reports.compare_facts import flatten, run_facts
from reports.errors import NoEventsError
from reports.hdr import UNIT_S, HdrHistogram
from reports.load import load_run
from reports.percentiles import nearest_rank
from reports.render import analyse_run
from reports.summary import json_safe
from reports.windows import choose_window_s, windowed_percentiles

__all__ = ["BOOTSTRAPPED", "RunSample", "bootstrap", "compare_runs", "load_sample"]

SCHEMA_VERSION = 1
_LATENCY = {"p50_s": 50, "p95_s": 95, "p99_s": 99}
BOOTSTRAPPED: tuple[str, ...] = (*_LATENCY, "error_rate", "availability", "throughput_rps")
"""The figures that get a bootstrap interval (and so may be called real)."""

FloatArray = npt.NDArray[np.float64]


@dataclass
class RunSample:
    """What the comparison needs from one run, read once: its facts and the measured latencies."""

    facts: dict[str, Any]
    config: dict[str, Any]
    latencies: FloatArray
    histogram: HdrHistogram
    ok: int
    failed: int
    per_second: FloatArray
    duration_s: float | None
    windows: list[dict[str, Any]]


def load_sample(run_dir: Path) -> RunSample:
    """Read and analyse a run directory for comparison.

    Raises:
        NotARunDirError, RunFileError: as :func:`reports.load.load_run`.
        NoEventsError: the run has no ``requests`` events.
    """
    run = load_run(Path(run_dir))
    if run.requests.empty:
        raise NoEventsError(run.run_dir, "requests")
    summary, load = analyse_run(run)
    facts = run_facts(summary, run.scenario, run.run_info, str(run.run_dir))
    measured = load.measured
    done = measured.loc[
        (measured["outcome"] != "dropped") & measured["latency_s"].notna() & measured["t_start"].notna()
    ]
    latencies = np.sort(done["latency_s"].to_numpy(dtype=np.float64))
    outcomes = measured["outcome"].value_counts()
    ok = int(outcomes.get("ok", 0))
    failed = int(outcomes.get("error", 0)) + int(outcomes.get("timeout", 0))
    starts = done["t_start"].to_numpy(dtype=np.float64)
    ends = starts + done["latency_s"].to_numpy(dtype=np.float64)
    duration = facts["duration_s"]
    begin = load.warmup.t_end if load.warmup.t_end is not None else load.origin
    if begin is None:
        begin = float(starts.min()) if starts.size else 0.0
    bins = max(1, math.ceil(duration)) if duration else 0
    per_second = np.zeros(bins, dtype=np.float64)
    if bins and ends.size:
        index = np.clip(np.floor(ends - begin).astype(np.int64), 0, bins - 1)
        per_second = np.bincount(index, minlength=bins).astype(np.float64)
    origin = load.origin if load.origin is not None else begin
    windows = windowed_percentiles(
        starts, done["latency_s"].to_numpy(dtype=np.float64), origin, choose_window_s(duration or 0.0)
    )
    return RunSample(
        facts,
        flatten(run.scenario),
        latencies,
        HdrHistogram.from_seconds(latencies),
        ok,
        failed,
        per_second,
        duration or None,
        windows,
    )


def bootstrap(sample: RunSample, rng: np.random.Generator, resamples: int) -> dict[str, FloatArray]:
    """``resamples`` bootstrap values of every bootstrapped figure (module docstring); NaN where undefined."""
    out: dict[str, FloatArray] = {}
    n = sample.latencies.size
    nan = np.full(resamples, np.nan)
    if n:
        nonzero = np.flatnonzero(sample.histogram.counts)
        counts = sample.histogram.counts[nonzero]
        values = sample.histogram.layout.highest_value_at(nonzero).astype(np.float64) * UNIT_S
        draws = rng.multinomial(n, counts / counts.sum(), size=resamples)
        cumulative = np.cumsum(draws, axis=1)
        for key, p in _LATENCY.items():
            out[key] = values[np.argmax(cumulative >= nearest_rank(n, p), axis=1)]
    else:
        out.update({key: nan for key in _LATENCY})
    counted = sample.ok + sample.failed
    if counted:
        failed = rng.binomial(counted, sample.failed / counted, size=resamples) / counted
        out["error_rate"] = failed.astype(np.float64)
        out["availability"] = 1.0 - failed
    else:
        out["error_rate"] = out["availability"] = nan
    bins = sample.per_second.size
    if bins and sample.duration_s:
        picks = rng.integers(0, bins, size=(resamples, bins))
        # Scaled so the resamples centre on completed / duration even with a partial last second.
        out["throughput_rps"] = sample.per_second[picks].sum(axis=1) / sample.duration_s
    else:
        out["throughput_rps"] = nan
    return out


def compare_runs(
    run_dirs: Sequence[Path],
    resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
    gates: Sequence[Gate] = (),
) -> tuple[dict[str, Any], list[RunSample]]:
    """The comparison document (``compare.json``) and the samples it was computed from.

    Raises:
        ValueError: fewer than two runs, or ``resamples``/``confidence`` out of range.
        NotARunDirError, RunFileError, NoEventsError: a run directory is not usable.
    """
    if len(run_dirs) < 2:
        raise ValueError(f"compare needs at least two run directories, got {len(run_dirs)}")
    if resamples < 10 or not 0 < confidence < 1:
        raise ValueError(f"resamples must be >= 10 and confidence in (0, 1), got {resamples}, {confidence}")
    samples = [load_sample(Path(d)) for d in run_dirs]
    runs = [sample.facts for sample in samples]
    _label(runs)
    rng = np.random.default_rng(seed)
    boots = [bootstrap(sample, rng, resamples) for sample in samples]
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    base = runs[0]
    comparisons = []
    for index in range(1, len(samples)):
        run = runs[index]
        rows = []
        for metric in METRICS:
            interval = None
            if metric.key in BOOTSTRAPPED:
                diffs = boots[index][metric.key] - boots[0][metric.key]
                diffs = diffs[np.isfinite(diffs)]
                if diffs.size:
                    low, high = np.percentile(diffs, [lo_q, hi_q])
                    interval = (float(low), float(high))
            rows.append(delta(metric, base["figures"][metric.key], run["figures"][metric.key], interval))
        trustworthy = bool(base["trustworthy"] and run["trustworthy"])
        comparisons.append(
            {
                "run_id": run["run_id"],
                "label": run["label"],
                "metrics": rows,
                **call(rows, trustworthy),
                "verdict_changed": base["verdict"] != run["verdict"],
                "config": config_differences(samples[0].config, samples[index].config),
            }
        )
    gate_results: list[dict[str, Any]] = [
        {
            "spec": gate.spec,
            "metric": gate.metric.key,
            "max_worse_pct": gate.max_worse_pct,
            "results": [
                check_gate(
                    gate,
                    next(m for m in comparison["metrics"] if m["metric"] == gate.metric.key),
                    bool(base["trustworthy"] and runs[i + 1]["trustworthy"]),
                    comparison["label"],
                )
                for i, comparison in enumerate(comparisons)
            ],
        }
        for gate in gates
    ]
    document = {
        "schema_version": SCHEMA_VERSION,
        "baseline": base["run_id"],
        "runs": runs,
        "comparisons": comparisons,
        "slas": sla_rows(runs),
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": confidence},
        "gates": gate_results,
        "gates_passed": all(r["passed"] for g in gate_results for r in g["results"]) if gates else None,
        "warnings": _warnings(runs),
    }
    return json_safe(document), samples


def _label(runs: Sequence[dict[str, Any]]) -> None:
    """Name each run for tables: ``run 1`` ... plus its profile when it has one."""
    for index, run in enumerate(runs):
        run["label"] = f"run {index + 1}" + (f" ({run['profile']})" if run["profile"] else "")


def _warnings(runs: Sequence[dict[str, Any]]) -> list[str]:
    """What a reader must know before trusting the comparison."""
    warnings = []
    names = [run["scenario"] for run in runs]
    if len(set(names)) > 1:
        listed = ", ".join(f"{run['label']}: {run['scenario']}" for run in runs)
        warnings.append(
            f"the runs are of different scenarios ({listed}): their loads, faults and SLAs differ, "
            "so a difference may come from the scenario, not the tuning"
        )
    for run in runs:
        if not run["trustworthy"]:
            detail = run["generator_detail"] or "the load generator was saturated"
            warnings.append(
                f"{run['label']} is untrustworthy: {detail}; its figures describe the load generator, "
                "not the system (add Locust workers with --workers N or lower the load)"
            )
        if run["status"] != "completed":
            reason = f": {run['reason']}" if run["reason"] else ""
            warnings.append(
                f"{run['label']} did not complete (status {run['status']}{reason}); "
                "its figures cover less than the scenario asked for"
            )
    return warnings

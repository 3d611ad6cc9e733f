"""The decisions of ``chaosbench compare``, as pure functions over figures: no files, no randomness.

For each figure (:data:`METRICS`) a run is set against the baseline (the first
run): the difference ``run - baseline``, the relative change ``difference /
baseline`` (``None`` when the baseline is 0), and which way is better. A change
is ``better``, ``worse`` or ``same`` (exactly equal); figures without a
direction (the planned ``users``) have no change. Where the comparison has a
bootstrap interval for the difference (:mod:`reports.compare`), the difference
is **real** when the interval excludes 0.

The call for a run (:func:`call`) rests on the real differences only: ``better``
(some real improvement, no real regression), ``worse`` (the reverse), ``mixed``
(both) or ``no real difference``; ``untrustworthy`` when the load generator of
the run or of the baseline was saturated (such figures describe the generator).

A gate (``--fail-if-worse METRIC:PCT``, :func:`parse_gate`) fails when a run is
worse than the baseline by more than PCT percent of the baseline's value, on
the point figures (a baseline of 0 and any worsening fails it); its detail says
whether the difference was real. It fails closed:
a run or baseline that is untrustworthy or has no value for the metric fails
it too, since nothing can be vouched for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "METRICS",
    "Gate",
    "Metric",
    "call",
    "check_gate",
    "config_differences",
    "delta",
    "metric_named",
    "parse_gate",
    "sla_rows",
]

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Metric:
    """One compared figure: its key in the run's ``figures``, a label, a unit and which way is better."""

    key: str
    label: str
    unit: str  # "s", "ratio", "rps" or "count"
    better: Better | None
    aliases: tuple[str, ...] = ()


METRICS: tuple[Metric, ...] = (
    Metric("users", "users (planned peak)", "count", None),
    Metric("sessions_held", "sessions held (min)", "count", "higher", ("sessions",)),
    Metric("requests", "requests", "count", "higher"),
    Metric("throughput_rps", "requests/s", "rps", "higher", ("rps", "throughput")),
    Metric("p50_s", "p50 latency", "s", "lower", ("p50",)),
    Metric("p95_s", "p95 latency", "s", "lower", ("p95",)),
    Metric("p99_s", "p99 latency", "s", "lower", ("p99",)),
    Metric("error_rate", "error rate", "ratio", "lower", ("errors",)),
    Metric("availability", "availability", "ratio", "higher"),
    Metric("breaker_opens", "breaker opens", "count", "lower", ("opens",)),
    Metric("capacity_users", "capacity (users)", "count", "higher", ("capacity",)),
)


def metric_named(name: str) -> Metric:
    """The metric called ``name`` (its key or an alias, e.g. ``p95``).

    Raises:
        ValueError: no such metric; the message lists the names.
    """
    for metric in METRICS:
        if name in (metric.key, *metric.aliases):
            return metric
    known = ", ".join(name for metric in METRICS if metric.better for name in (metric.key, *metric.aliases))
    raise ValueError(f"unknown metric {name!r}; expected one of: {known}")


def delta(
    metric: Metric, baseline: float | None, value: float | None, interval: tuple[float, float] | None = None
) -> dict[str, Any]:
    """One figure of a run against the baseline (the row of ``compare.json``'s ``metrics``)."""
    diff = value - baseline if baseline is not None and value is not None else None
    change: str | None = None
    if diff is not None and metric.better is not None:
        change = "same" if diff == 0 else "better" if (diff < 0) == (metric.better == "lower") else "worse"
    real = None
    if interval is not None and diff is not None:
        real = interval[0] > 0 or interval[1] < 0
    return {
        "metric": metric.key,
        "label": metric.label,
        "unit": metric.unit,
        "better": metric.better,
        "baseline": baseline,
        "value": value,
        "diff": diff,
        "relative": diff / baseline if diff is not None and baseline else None,
        "change": change,
        "ci_low": interval[0] if interval is not None and diff is not None else None,
        "ci_high": interval[1] if interval is not None and diff is not None else None,
        "real": real,
    }


def call(metrics: Sequence[Mapping[str, Any]], trustworthy: bool) -> dict[str, Any]:
    """The verdict on one run against the baseline (see the module docstring)."""
    better = [m["metric"] for m in metrics if m.get("real") and m.get("change") == "better"]
    worse = [m["metric"] for m in metrics if m.get("real") and m.get("change") == "worse"]
    if not trustworthy:
        verdict = "untrustworthy"
    elif better and worse:
        verdict = "mixed"
    elif better:
        verdict = "better"
    elif worse:
        verdict = "worse"
    else:
        verdict = "no real difference"
    return {"call": verdict, "better": better, "worse": worse}


@dataclass(frozen=True)
class Gate:
    """``--fail-if-worse METRIC:PCT``: fail when a run is worse than the baseline by more than ``max_worse_pct``%."""

    spec: str
    metric: Metric
    max_worse_pct: float


def parse_gate(spec: str) -> Gate:
    """Parse ``METRIC:PCT`` (e.g. ``p95:10``).

    Raises:
        ValueError: the text is not ``METRIC:PCT``, the metric is unknown or has no
            better direction, or PCT is not a number >= 0.
    """
    name, sep, pct = spec.partition(":")
    if not sep or not name.strip() or not pct.strip():
        raise ValueError(f"--fail-if-worse {spec!r}: expected METRIC:PCT, e.g. p95:10")
    metric = metric_named(name.strip())
    if metric.better is None:
        raise ValueError(f"--fail-if-worse {spec!r}: {metric.key} has no better direction to be worse in")
    try:
        value = float(pct.strip().removesuffix("%"))
    except ValueError:
        raise ValueError(f"--fail-if-worse {spec!r}: PCT must be a number, got {pct!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"--fail-if-worse {spec!r}: PCT must be a number >= 0, got {pct!r}")
    return Gate(spec, metric, value)


def check_gate(gate: Gate, row: Mapping[str, Any], trustworthy: bool, label: str) -> dict[str, Any]:
    """Whether one run passes a gate; ``row`` is its :func:`delta` for the gate's metric."""
    base, value = row.get("baseline"), row.get("value")
    worse_pct: float | None = None
    if not trustworthy:
        passed, detail = False, "untrustworthy (a load generator was saturated): nothing can be vouched for"
    elif base is None or value is None:
        passed, detail = False, f"no {gate.metric.label} to compare (baseline {base}, run {value})"
    else:
        diff = (value - base) if gate.metric.better == "lower" else (base - value)
        worse_pct = 0.0 if diff <= 0 else diff / abs(base) * 100 if base else math.inf
        # Rounded so that a change of exactly PCT% (1.0 -> 1.1 is 10.000000000000009%) passes.
        passed = round(worse_pct, 9) <= gate.max_worse_pct
        shown = "from 0" if math.isinf(worse_pct) else f"by {worse_pct:.1f}%"
        real = row.get("real")
        noise = (
            ""
            if real is None
            else "; a real difference"
            if real
            else "; within noise: its interval includes 0"
        )
        detail = (
            f"{gate.metric.label} worse {shown} (limit {gate.max_worse_pct:g}%{noise})"
            if worse_pct > 0
            else f"{gate.metric.label} not worse"
        )
    return {
        "run": label,
        "worse_pct": None if worse_pct is None or math.isinf(worse_pct) else worse_pct,
        "passed": passed,
        "detail": detail,
    }


def config_differences(baseline: Mapping[str, Any], other: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The scenario keys (flattened key paths) whose values differ, ``description`` and ``profiles`` left out."""
    skip = ("description", "profiles")
    rows = []
    for key in sorted(set(baseline) | set(other)):
        if key.split(".")[0] in skip:
            continue
        before, after = baseline.get(key), other.get(key)
        if before != after:
            rows.append({"key": key, "baseline": before, "value": after})
    return rows


def sla_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every SLA name (baseline's first), with each run's result: ``{"name", "unit", "results": [... | None]}``."""
    names: list[str] = []
    for run in runs:
        for sla in run["slas"]:
            if sla["name"] not in names:
                names.append(sla["name"])
    rows = []
    for name in names:
        results = [next((sla for sla in run["slas"] if sla["name"] == name), None) for run in runs]
        unit = next((r.get("unit") for r in results if r is not None), None)
        rows.append(
            {
                "name": name,
                "unit": unit,
                "results": [
                    None if r is None else {"passed": r.get("passed"), "measured": r.get("measured")}
                    for r in results
                ],
            }
        )
    return rows

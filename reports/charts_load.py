"""The load charts: sessions in flight over time, and the capacity search (p95 and throughput per step).

Like :mod:`reports.charts` (which draws them with the others): each function
writes ``report/<name>.png`` at ``CHART_SIZE_PX`` and returns its path, or returns
``None`` and removes a stale file when there is nothing to draw. The figures come
from :mod:`reports.sessions` and the summary's ``capacity`` block
(:mod:`reports.capacity`), so the chart shows exactly what the report says.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reports.chart_kit import (
    axes_figure,
    latency_axis,
    latency_thresholds,
    legend_below,
    no_chart,
    save_png,
    shade_faults,
    shade_warmup,
    text_label,
)
from reports.load import RunData
from reports.load_plan import load_plan
from reports.percentiles import is_finite_number
from reports.scale import analyse_load
from reports.sessions import sessions_per_second
from reports.warmup import load_start

__all__ = ["capacity_chart", "sessions_over_time"]

_RUN_TIME_LABEL = "time since load start (s)"
# (column, label, color, line width): the wide pale line stays visible under an equal thin one.
_SESSION_LINES = (
    ("locust_users", "Locust users", "#1f77b4", 4.0),
    ("sessions_in_flight", "sessions in flight", "#2ca02c", 1.5),
)


def sessions_over_time(
    run: RunData, report_dir: Path, *, t0: float | None = None, summary: Mapping[str, Any] | None = None
) -> Path | None:
    """Per second: Locust users and sessions in flight summed over the Locust processes, the load
    shape's ``target_users``, the held window shaded and any ``sessions_held`` threshold."""
    path = report_dir / "sessions_over_time.png"
    origin = load_start(run) if t0 is None else t0
    present = [
        line
        for line in _SESSION_LINES
        if line[0] in run.samples.columns and run.samples[line[0]].notna().any()
    ]
    if origin is None or not present:
        return no_chart(path)
    fig, ax = axes_figure()
    target_drawn = False
    for column, label, color, width in present:
        series = sessions_per_second(run.samples, origin, column)
        if series.empty:
            continue
        # Each value holds for its whole second: repeat the last one at the last second's end.
        x = np.r_[series["second"].to_numpy(dtype=np.float64), float(series["second"].iloc[-1]) + 1]
        sessions = series["sessions"].to_numpy(dtype=np.float64)
        ax.step(
            x,
            np.r_[sessions, sessions[-1]],
            where="post",
            color=color,
            linewidth=width,
            alpha=0.45 if width > 2 else 1.0,
            label=f"{label} (sum)",
        )
        targets = series["target_users"].to_numpy(dtype=np.float64)
        if not target_drawn and np.isfinite(targets).any():
            ax.step(
                x,
                np.r_[targets, targets[-1]],
                where="post",
                color="#444444",
                linestyle="--",
                linewidth=1.2,
                label="target users",
                zorder=3,
            )
            target_drawn = True
    held = (summary or {}).get("sessions") or {}
    start, end = held.get("window_start_s"), held.get("window_end_s")
    if is_finite_number(start) and is_finite_number(end) and end > start:
        ax.axvspan(start, end, color="#2ca02c", alpha=0.08, zorder=0, label="held window (after the ramp-up)")
    for sla in (summary or {}).get("slas") or []:
        if sla.get("kind") == "sessions_held" and is_finite_number(sla.get("threshold")):
            ax.axhline(
                sla["threshold"],
                color="#d62728",
                linestyle=":",
                linewidth=1.2,
                label=f"SLA: {text_label(sla['name'])}",
            )
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    ax.set_ylim(bottom=0)
    shade_faults(ax, run.faults, origin, ax.get_xlim())
    shade_warmup(ax, load_plan(run.scenario).warmup_s)
    ax.set_title("Sessions in flight per second (summed over Locust processes)")
    ax.set_xlabel(_RUN_TIME_LABEL)
    ax.set_ylabel("sessions")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return save_png(fig, path)


def capacity_chart(
    run: RunData, report_dir: Path, *, summary: Mapping[str, Any] | None = None
) -> Path | None:
    """p95 (and p50) latency and throughput against users, one point per step of a capacity search;
    the capacity, the first step that broke and the knee marked, latency SLAs dotted."""
    path = report_dir / "capacity.png"
    capacity = _capacity_block(run, summary)
    steps = [s for s in (capacity or {}).get("steps") or [] if s.get("played") and s.get("p95_s") is not None]
    if capacity is None or not steps:
        return no_chart(path)
    users = np.array([s["users"] for s in steps], dtype=np.float64)
    p95 = np.array([s["p95_s"] for s in steps], dtype=np.float64)
    p50 = np.array([s["p50_s"] for s in steps], dtype=np.float64)
    rps = np.array([s["rps"] or 0.0 for s in steps], dtype=np.float64)
    fig, ax = axes_figure()
    rps_ax = ax.twinx()
    rps_ax.plot(users, rps, color="#1f77b4", marker="s", linewidth=1.6, label="throughput (req/s)")
    rps_ax.set_ylabel("completed requests per second")
    rps_ax.set_ylim(bottom=0, top=max(1.0, float(rps.max())) * 1.15)
    ax.plot(users, p95, color="#d62728", marker="o", linewidth=1.8, label="p95 latency")
    ax.plot(users, p50, color="#ff7f0e", marker=".", linestyle="--", linewidth=1.2, label="p50 latency")
    broken = np.array([not s.get("held") for s in steps])
    if broken.any():
        ax.plot(
            users[broken],
            p95[broken],
            linestyle="none",
            marker="X",
            markersize=10,
            color="#d62728",
            label="SLA broken",
        )
    thresholds = latency_thresholds(_step_slas(steps))
    values = np.concatenate([p95, p50, [t for _, t in thresholds]])
    latency_axis(ax, values, "y")
    for name, threshold in thresholds:
        ax.axhline(threshold, color="#444444", linestyle=":", linewidth=1.2, label=f"SLA: {text_label(name)}")
    for key, color, style, label in (
        ("capacity_users", "#2ca02c", "-", "capacity"),
        ("broke_at_users", "#d62728", "--", "broke at"),
        ("knee_users", "#9467bd", ":", "knee"),
    ):
        value = capacity.get(key)
        if is_finite_number(value):
            ax.axvline(value, color=color, linestyle=style, linewidth=2.0, label=f"{label}: {value:g} users")
    ax.set_xlabel("users (step)")
    ax.set_ylabel("latency")
    ax.set_xticks(users)
    ax.set_title("Capacity search: latency and throughput per step")
    ax.grid(True, alpha=0.3)
    handles = ax.get_legend_handles_labels()[0] + rps_ax.get_legend_handles_labels()[0]
    legend_below(fig, ax, handles)
    return save_png(fig, path)


def _capacity_block(run: RunData, summary: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if summary is not None:
        block = summary.get("capacity")
        return block if isinstance(block, Mapping) else None
    result = analyse_load(run).capacity
    return result.to_dict(load_start(run)) if result is not None else None


def _step_slas(steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The latency SLAs the steps were checked against (each once)."""
    seen: dict[str, Mapping[str, Any]] = {}
    for step in steps:
        for sla in step.get("slas") or []:
            seen.setdefault(str(sla.get("name")), sla)
    return list(seen.values())

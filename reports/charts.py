"""PNG charts of a run, written to ``report/<name>.png``.

One function per chart (the load charts, sessions and capacity, live in
:mod:`reports.charts_load`). Each takes the loaded run (and the time origin ``t0``,
the load start, which every time axis counts from), writes its PNG atomically
and returns the path, or returns ``None`` and removes a stale PNG when the run
has nothing to draw (no requests, no samples...). :func:`render_charts` draws
them all and turns a chart that fails into a warning, so one broken chart never
costs the rest of the report.

Drawing uses :class:`matplotlib.figure.Figure` on an Agg canvas directly, never
``pyplot`` (:mod:`reports.chart_kit`); every chart is ``CHART_SIZE_PX`` pixels.
The numbers drawn come from :mod:`reports.chart_data`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from reports.chart_data import (
    BREAKER_STATES,
    completed_requests,
    counts_per_second,
    gauge_columns,
    in_flight,
    latency_windows,
    state_spans,
)
from reports.chart_kit import (
    CHART_DPI,
    CHART_SIZE_PX,
    axes_figure,
    latency_axis,
    latency_bins,
    latency_thresholds,
    legend_below,
    new_figure,
    no_chart,
    save_png,
    shade_faults,
    shade_warmup,
    text_label,
    wide_spread,
)
from reports.charts_load import capacity_chart, sessions_over_time
from reports.load import RunData
from reports.load_plan import load_plan
from reports.percentiles import is_finite_number, percentile
from reports.summary import time_origin

__all__ = [
    "CHARTS",
    "CHART_DPI",
    "CHART_SIZE_PX",
    "ChartFile",
    "ChartsOutcome",
    "breaker_states",
    "capacity_chart",
    "cpu_per_process",
    "latency_distribution",
    "latency_over_time",
    "pool_usage",
    "render_charts",
    "sessions_over_time",
    "throughput_errors",
]

CHARTS: Mapping[str, str] = {
    "latency_over_time": "Latency percentiles over time",
    "throughput_errors": "Throughput and errors over time",
    "sessions_over_time": "Sessions in flight",
    "breaker_states": "Circuit breaker state per server",
    "pool_usage": "Concurrency and pool gauges",
    "cpu_per_process": "CPU and memory per process",
    "latency_distribution": "Latency distribution",
    "capacity": "Capacity search: latency and throughput per step",
}
"""Every chart's file stem and title, in report order."""

STATE_COLORS: Mapping[str, str] = {
    "closed": "#2ca02c",
    "half_open": "#ff7f0e",
    "open": "#d62728",
    "forced_open": "#7b1fa2",
    "disabled": "#7f7f7f",
}
_UNKNOWN_STATE_COLOR = "#bcbd22"
_OK_COLOR, _ERROR_COLOR, _TIMEOUT_COLOR = "#2ca02c", "#ff7f0e", "#d62728"
_RUN_TIME_LABEL = "time since load start (s)"
_MIN_BREAKER_ROWS = 4
_PERCENTILE_MARKERS = ((50, "o"), (95, "s"), (99, "^"))

FloatArray = npt.NDArray[np.float64]
LatencySeries: TypeAlias = "Sequence[float] | FloatArray | pd.Series[float]"


@dataclass(frozen=True)
class ChartFile:
    """One chart that was written: its stem (``latency_over_time``), title and file."""

    name: str
    title: str
    path: Path


@dataclass(frozen=True)
class ChartsOutcome:
    """What :func:`render_charts` produced: the charts written and why any are missing."""

    files: list[ChartFile] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render_charts(
    run: RunData,
    report_dir: Path,
    *,
    summary: Mapping[str, Any] | None = None,
    corrected_latency_s: LatencySeries | None = None,
) -> ChartsOutcome:
    """Draw every chart into ``report_dir``; a chart that fails becomes a warning (also on stderr).

    ``summary`` (the ``summary.json`` document) supplies the time origin and
    the SLA thresholds drawn as reference lines; without it they come from the run.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    t0 = _origin(run, summary)
    slas = list((summary or {}).get("slas") or [])
    draw: dict[str, Callable[[], Path | None]] = {
        "latency_over_time": lambda: latency_over_time(run, report_dir, t0=t0, slas=slas),
        "throughput_errors": lambda: throughput_errors(run, report_dir, t0=t0),
        "sessions_over_time": lambda: sessions_over_time(run, report_dir, t0=t0, summary=summary),
        "breaker_states": lambda: breaker_states(run, report_dir, t0=t0),
        "pool_usage": lambda: pool_usage(run, report_dir, t0=t0),
        "cpu_per_process": lambda: cpu_per_process(run, report_dir, t0=t0),
        "latency_distribution": lambda: latency_distribution(
            run, report_dir, corrected_latency_s=corrected_latency_s, slas=slas, summary=summary
        ),
        "capacity": lambda: capacity_chart(run, report_dir, summary=summary),
    }
    outcome = ChartsOutcome()
    for name, title in CHARTS.items():
        try:
            path = draw[name]()
        # A chart is decoration: a bug or odd data in one must not lose the verdict,
        # the tables or the other charts. These are what pandas/numpy/matplotlib raise
        # for data they cannot handle; anything else is a real bug and propagates.
        except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, RuntimeError) as exc:
            message = f"chart {name}.png not drawn: {type(exc).__name__}: {exc}"
            outcome.warnings.append(message)
            print(f"warning: {message}", file=sys.stderr)
            no_chart(report_dir / f"{name}.png")
            continue
        if path is not None:
            outcome.files.append(ChartFile(name, title, path))
    return outcome


def latency_over_time(
    run: RunData, report_dir: Path, *, t0: float | None = None, slas: Sequence[Mapping[str, Any]] = ()
) -> Path | None:
    """p50/p95/p99 latency per 1 s window of request start, fault windows shaded."""
    path = report_dir / "latency_over_time.png"
    origin = _origin(run, None) if t0 is None else t0
    windows = latency_windows(run.requests, origin) if origin is not None else pd.DataFrame()
    if origin is None or windows.empty:
        return no_chart(path)
    fig, ax = axes_figure()
    x = windows["start_s"].to_numpy(dtype=np.float64) + 0.5
    for column, style in (("p50", "-"), ("p95", "-"), ("p99", "--")):
        ax.plot(x, windows[column], style, marker=".", markersize=4, linewidth=1.4, label=column)
    values = windows[["p50", "p95", "p99"]].to_numpy(dtype=np.float64)
    latency_axis(ax, values, "y")
    for sla in latency_thresholds(slas):
        ax.axhline(sla[1], color="#444444", linestyle=":", linewidth=1.2, label=f"SLA: {text_label(sla[0])}")
    x_end = max(float(x.max()) + 0.5, _load_end(run, origin) or 0.0)
    ax.set_xlim(min(0.0, float(windows["start_s"].min())), x_end)
    shade_faults(ax, run.faults, origin, ax.get_xlim())
    shade_warmup(ax, load_plan(run.scenario).warmup_s)
    ax.set_title("Request latency percentiles per 1 s window (nearest rank, by request start)")
    ax.set_xlabel(_RUN_TIME_LABEL)
    ax.set_ylabel("latency")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return save_png(fig, path)


def throughput_errors(run: RunData, report_dir: Path, *, t0: float | None = None) -> Path | None:
    """Completed requests per second, stacked by outcome (ok, error, timeout), by completion time."""
    path = report_dir / "throughput_errors.png"
    origin = _origin(run, None) if t0 is None else t0
    frame = completed_requests(run.requests)
    if origin is None or frame.empty:
        return no_chart(path)
    done = (frame["t_start"] + frame["latency_s"]).to_numpy(dtype=np.float64) - origin
    start = min(0.0, float(done.min()))
    end = max(float(done.max()), _load_end(run, origin) or 0.0)
    fig, ax = axes_figure()
    bottom: FloatArray | None = None
    outcomes = frame["outcome"].to_numpy(dtype=object)
    for label, chosen, color in (
        ("ok", outcomes == "ok", _OK_COLOR),
        ("error", outcomes == "error", _ERROR_COLOR),
        ("timeout", outcomes == "timeout", _TIMEOUT_COLOR),
        ("other", ~np.isin(outcomes, ["ok", "error", "timeout"]), "#7f7f7f"),
    ):
        seconds, counts = counts_per_second(done[chosen], start, end)
        if label == "other" and not counts.any():
            continue
        ax.bar(seconds, counts, width=1.0, align="edge", bottom=bottom, color=color, label=f"{label}/s")
        bottom = counts if bottom is None else bottom + counts
    ax.set_xlim(math.floor(start), math.ceil(end))
    ax.set_ylim(0, max(1.0, float(bottom.max()) if bottom is not None else 0.0) * 1.12)  # room for labels
    shade_faults(ax, run.faults, origin, ax.get_xlim())
    ax.set_title("Completed requests per second by outcome (by completion time)")
    ax.set_xlabel(_RUN_TIME_LABEL)
    ax.set_ylabel("requests per second")
    ax.grid(True, axis="y", alpha=0.3)
    legend_below(fig, ax)
    return save_png(fig, path)


def breaker_states(run: RunData, report_dir: Path, *, t0: float | None = None) -> Path | None:
    """One row per server: its breaker state over time, from the ``breaker`` transitions.

    Servers seen only in ``calls`` are drawn closed throughout; with neither
    transitions nor calls there is nothing to draw.
    """
    path = report_dir / "breaker_states.png"
    origin = _origin(run, None) if t0 is None else t0
    servers = sorted(
        {str(s) for s in run.breaker["server"].dropna()} | {str(s) for s in run.calls["server"].dropna()}
    )
    if origin is None or not servers:
        return no_chart(path)
    times = [
        *(run.breaker["t"].dropna() - origin).tolist(),
        *(run.calls["t_start"].dropna() - origin).tolist(),
        *((run.calls["t_start"] + run.calls["latency_s"]).dropna() - origin).tolist(),
    ]
    start = min([0.0, *times])
    end = max([_load_end(run, origin) or 0.0, *times, start + 1.0])
    spans = state_spans(run.breaker, servers, origin, start, end)
    fig, ax = axes_figure()
    for row, server in enumerate(servers):
        for span in (s for s in spans if s.server == server):
            color = STATE_COLORS.get(span.state, _UNKNOWN_STATE_COLOR)
            ax.broken_barh(
                [(span.start_s, span.end_s - span.start_s)], (row - 0.35, 0.7), facecolors=color, zorder=2
            )
    ax.set_yticks(range(len(servers)), [text_label(server) for server in servers])
    pad = max(0.0, (_MIN_BREAKER_ROWS - len(servers)) / 2)  # a lone server is a bar, not a wall
    ax.set_ylim(len(servers) - 0.5 + pad, -0.5 - pad)
    ax.set_xlim(start, end)
    seen = {span.state for span in spans}
    handles: list[Any] = [
        Patch(facecolor=STATE_COLORS[state], label=state)
        for state in BREAKER_STATES
        if state in seen or state in ("closed", "open")
    ]
    handles += [
        Patch(facecolor=_UNKNOWN_STATE_COLOR, label=text_label(state))
        for state in sorted(seen - set(BREAKER_STATES))
    ]
    handles += shade_faults(ax, run.faults, origin, (start, end), legend=False)
    ax.set_title("Circuit breaker state per server")
    ax.set_xlabel(_RUN_TIME_LABEL)
    ax.grid(True, axis="x", alpha=0.3)
    legend_below(fig, ax, handles)
    return save_png(fig, path)


def pool_usage(run: RunData, report_dir: Path, *, t0: float | None = None) -> Path | None:
    """Requests in flight (client side, every 100 ms) and every gauge in ``samples`` over time.

    Gauges are the numeric sample columns other than ``t``/``pid``/``cpu_percent``/
    ``rss_bytes`` and ``*_total`` counters (the gateway's ``agent_in_progress``,
    pool gauges when the sampler records them).
    """
    path = report_dir / "pool_usage.png"
    origin = _origin(run, None) if t0 is None else t0
    if origin is None:
        return no_chart(path)
    ticks, counts = _requests_in_flight(run, origin)
    gauges = gauge_columns(run.samples)
    if ticks.size == 0 and not gauges:
        return no_chart(path)
    fig, ax = axes_figure()
    if ticks.size:
        ax.step(
            ticks,
            counts,
            where="post",
            linewidth=1.0,
            color="#555555",
            label="requests in flight (client side)",
        )
    samples = run.samples.dropna(subset=["t"])
    for gauge in gauges:
        for process, group in samples.dropna(subset=[gauge]).groupby("process", sort=True):
            ordered = group.sort_values("t")
            ax.plot(
                ordered["t"].to_numpy(dtype=np.float64) - origin,
                ordered[gauge].to_numpy(dtype=np.float64),
                marker="o",
                markersize=3,
                linewidth=1.4,
                label=f"{text_label(process)}: {text_label(gauge)}",
            )
    ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
    ax.set_ylim(bottom=0)
    shade_faults(ax, run.faults, origin, ax.get_xlim())
    ax.set_title("Concurrency: requests in flight and sampled gauges")
    ax.set_xlabel(_RUN_TIME_LABEL)
    ax.set_ylabel("in flight / gauge value")
    ax.grid(True, alpha=0.3)
    legend_below(fig, ax)
    return save_png(fig, path)


def cpu_per_process(run: RunData, report_dir: Path, *, t0: float | None = None) -> Path | None:
    """CPU % (top) and RSS in MiB (bottom) of every sampled process over time."""
    path = report_dir / "cpu_per_process.png"
    origin = _origin(run, None) if t0 is None else t0
    samples = run.samples.dropna(subset=["t"])
    samples = samples.loc[samples["cpu_percent"].notna() | samples["rss_bytes"].notna()]
    if origin is None or samples.empty:
        return no_chart(path)
    fig = new_figure()
    cpu_ax, rss_ax = fig.subplots(2, 1, sharex=True)
    for process, group in samples.groupby("process", sort=True):
        ordered = group.sort_values("t")
        x = ordered["t"].to_numpy(dtype=np.float64) - origin
        (line,) = cpu_ax.plot(x, ordered["cpu_percent"].to_numpy(dtype=np.float64, na_value=np.nan))
        line.set_label(text_label(process))
        rss = ordered["rss_bytes"].to_numpy(dtype=np.float64, na_value=np.nan) / (1024 * 1024)
        rss_ax.plot(x, rss, color=line.get_color())
    cpu_ax.set_title("CPU and memory per process (sampled about once a second)")
    cpu_ax.set_ylabel("CPU (% of one core)")
    rss_ax.set_ylabel("RSS (MiB)")
    rss_ax.set_xlabel(_RUN_TIME_LABEL)
    for ax in (cpu_ax, rss_ax):
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
    cpu_ax.set_xlim(left=min(0.0, cpu_ax.get_xlim()[0]))
    shade_faults(cpu_ax, run.faults, origin, cpu_ax.get_xlim())
    shade_faults(rss_ax, run.faults, origin, cpu_ax.get_xlim(), legend=False, names=False)
    fig.legend(loc="outside right upper", fontsize=8)
    return save_png(fig, path)


def latency_distribution(
    run: RunData,
    report_dir: Path,
    *,
    corrected_latency_s: LatencySeries | None = None,
    slas: Sequence[Mapping[str, Any]] = (),
    summary: Mapping[str, Any] | None = None,
) -> Path | None:
    """Histogram (left) and cumulative distribution (right) of completed requests' latency.

    A coordinated-omission corrected series is drawn beside the raw one when
    given (``corrected_latency_s``), else when ``requests`` has a
    ``latency_corrected_s`` column. Without a series, the corrected percentiles
    of the summary (``requests.latency_corrected_s``, from :mod:`reports.omission`)
    are drawn on the CDF when they differ from the raw ones.
    """
    path = report_dir / "latency_distribution.png"
    raw = np.sort(completed_requests(run.requests)["latency_s"].to_numpy(dtype=np.float64))
    if raw.size == 0:
        return no_chart(path)
    corrected = _corrected_series(run, corrected_latency_s)
    series = [("raw", raw, "#1f77b4")] + ([("corrected", corrected, "#d62728")] if corrected.size else [])
    points = _summary_corrected_points(summary) if not corrected.size else []
    everything = np.concatenate([*(values for _, values, _ in series), [value for _, value in points]])
    fig = new_figure()
    hist_ax, cdf_ax = fig.subplots(1, 2)
    log = wide_spread(everything)
    bins = latency_bins(everything, log)
    for label, values, color in series:
        hist_ax.hist(
            values, bins=bins, histtype="step", linewidth=1.4, color=color, label=f"{label} (n={values.size})"
        )
        ranks = np.arange(1, values.size + 1, dtype=np.float64) / values.size * 100
        cdf_ax.step(values, ranks, where="post", color=color, linewidth=1.4, label=label)
        for p, marker in _PERCENTILE_MARKERS:
            cdf_ax.plot([percentile(values, p)], [p], marker=marker, color=color, linestyle="none")
    if points:
        cdf_ax.plot(
            [value for _, value in points],
            [p for p, _ in points],
            marker="D",
            fillstyle="none",
            linestyle="--",
            color="#d62728",
            label="corrected p50/p90/p95/p99",
        )
    for ax, axis in ((hist_ax, "x"), (cdf_ax, "x")):
        latency_axis(ax, everything, axis, log=log)
        ax.set_xlabel("latency")
        ax.grid(True, alpha=0.3)
        for name, threshold in latency_thresholds(slas):
            ax.axvline(
                threshold, color="#444444", linestyle=":", linewidth=1.2, label=f"SLA: {text_label(name)}"
            )
    hist_ax.set_ylabel("requests per bin")
    hist_ax.set_title("Histogram")
    cdf_ax.set_ylabel("requests at or below (%)")
    cdf_ax.set_ylim(0, 101)
    cdf_ax.set_yticks([0, 25, 50, 75, 90, 95, 99, 100], ["0", "25", "50", "75", "90", "", "99", ""])
    cdf_ax.set_title("Cumulative distribution")
    hist_ax.legend(loc="upper right", fontsize=8)
    markers = [
        Line2D([], [], marker=marker, color="#444444", linestyle="none", label=f"p{p}")
        for p, marker in _PERCENTILE_MARKERS
    ]
    cdf_ax.legend(handles=[*cdf_ax.get_legend_handles_labels()[0], *markers], loc="lower right", fontsize=8)
    fig.suptitle("Latency of completed requests")
    return save_png(fig, path)


def _origin(run: RunData, summary: Mapping[str, Any] | None) -> float | None:
    t0 = (summary or {}).get("t0")
    return float(t0) if is_finite_number(t0) else time_origin(run)


def _load_end(run: RunData, origin: float) -> float | None:
    end = run.run_info.get("load_t_end")
    return float(end) - origin if is_finite_number(end) else None


def _requests_in_flight(run: RunData, origin: float) -> tuple[FloatArray, FloatArray]:
    """Client-side requests in flight; dropped ones (no latency) count until the load ended."""
    frame = run.requests.dropna(subset=["t_start"])
    starts = frame["t_start"].to_numpy(dtype=np.float64) - origin
    latencies = frame["latency_s"].to_numpy(dtype=np.float64)
    known_ends = starts + latencies
    fallback = _load_end(run, origin)
    if fallback is None:
        fallback = float(np.nanmax(known_ends)) if np.isfinite(known_ends).any() else 0.0
    ends = np.where(np.isfinite(known_ends), known_ends, np.maximum(starts, fallback))
    return in_flight(starts, ends)


def _corrected_series(run: RunData, given: LatencySeries | None) -> FloatArray:
    if given is None and "latency_corrected_s" in run.requests.columns:
        given = completed_requests(run.requests)["latency_corrected_s"]
    if given is None:
        return np.array([], dtype=np.float64)
    values = np.asarray(given, dtype=np.float64)
    return np.sort(values[np.isfinite(values)])


def _summary_corrected_points(summary: Mapping[str, Any] | None) -> list[tuple[int, float]]:
    """(percentile, seconds) of the summary's corrected latency, or none when it equals the raw one."""
    requests = (summary or {}).get("requests")
    if not isinstance(requests, Mapping):
        return []
    corrected, raw = requests.get("latency_corrected_s"), requests.get("latency_s")
    if not isinstance(corrected, Mapping) or not isinstance(raw, Mapping):
        return []
    points = [
        (p, float(corrected[f"p{p}"])) for p in (50, 90, 95, 99) if is_finite_number(corrected.get(f"p{p}"))
    ]
    if all(is_finite_number(raw.get(f"p{p}")) and math.isclose(value, raw[f"p{p}"]) for p, value in points):
        return []
    return points

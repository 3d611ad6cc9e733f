"""``compare.png``: the runs' latency distributions side by side.

Three panels: the latency CDF of each run's measured requests (the share of
requests at or under each latency; a log axis when latencies span a wide range),
p50/p95/p99 as grouped bars, and p95 per time window over the load. Drawn with
:mod:`reports.chart_kit` (Agg, no pyplot), so it is safe in any process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from reports.chart_kit import CHART_DPI, format_seconds, latency_axis, save_png, text_label
from reports.compare import RunSample

__all__ = ["CDF_POINTS", "cdf_points", "write_chart"]

CDF_POINTS = 2000
"""At most this many points per CDF line (evenly spaced in rank), however many requests."""

_PERCENTILES = (("p50_s", "p50"), ("p95_s", "p95"), ("p99_s", "p99"))


def cdf_points(sorted_latencies: np.ndarray, limit: int = CDF_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(latency, share of requests at or under it) for a CDF line: every value, or ``limit`` ranks."""
    n = sorted_latencies.size
    if n == 0:
        return np.empty(0), np.empty(0)
    ranks = np.arange(1, n + 1) if n <= limit else np.unique(np.linspace(1, n, limit).round().astype(int))
    return sorted_latencies[ranks - 1], ranks / n


def write_chart(samples: Sequence[RunSample], path: Path) -> Path | None:
    """Draw the comparison chart to ``path``; ``None`` (nothing written) when no run has a latency."""
    if not any(sample.latencies.size for sample in samples):
        path.unlink(missing_ok=True)
        return None
    fig = Figure(figsize=(15, 4.8), dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    cdf, bars, over_time = fig.subplots(1, 3)
    labels = [text_label(sample.facts.get("label") or sample.facts["run_id"]) for sample in samples]
    every = np.concatenate([sample.latencies for sample in samples])
    for sample, label in zip(samples, labels, strict=True):
        xs, ys = cdf_points(sample.latencies)
        if xs.size:
            cdf.step(xs, ys, where="post", label=label)
    latency_axis(cdf, every, "x")
    cdf.yaxis.set_major_formatter(PercentFormatter(1.0))
    cdf.set_ylim(0, 1.01)
    cdf.set_xlabel("latency")
    cdf.set_ylabel("requests at or under")
    cdf.set_title("Latency CDF (measured requests)")
    cdf.grid(alpha=0.3)
    cdf.legend(fontsize="small", loc="lower right")

    width = 0.8 / len(samples)
    positions = np.arange(len(_PERCENTILES))
    for index, (sample, label) in enumerate(zip(samples, labels, strict=True)):
        heights = [sample.facts["figures"].get(key) or 0.0 for key, _ in _PERCENTILES]
        bars.bar(positions + index * width, heights, width, label=label)
    bars.set_xticks(positions + width * (len(samples) - 1) / 2, [name for _, name in _PERCENTILES])
    bars.yaxis.set_major_formatter(FuncFormatter(format_seconds))
    bars.set_title("Latency percentiles")
    bars.legend(fontsize="small")
    bars.grid(axis="y", alpha=0.3)

    for sample, label in zip(samples, labels, strict=True):
        windows = [w for w in sample.windows if w.get("p95") is not None]
        over_time.plot([w["t_rel_s"] for w in windows], [w["p95"] for w in windows], marker=".", label=label)
    over_time.yaxis.set_major_formatter(FuncFormatter(format_seconds))
    over_time.set_ylim(bottom=0)
    over_time.set_xlabel("time from load start (s)")
    over_time.set_title("p95 per window")
    over_time.grid(alpha=0.3)
    over_time.legend(fontsize="small")
    return save_png(fig, path)

"""Drawing helpers shared by the charts: figures of a fixed size on Agg, PNG output, axes and labels.

Figures are :class:`matplotlib.figure.Figure` objects on their own Agg canvas,
never ``pyplot``: no global figure registry, no backend selection, safe in any
process. Text that comes from a run goes through :func:`text_label`, which
escapes ``$`` so matplotlib never reads a server name as mathtext.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator
from matplotlib.transforms import blended_transform_factory

from reports.atomic import write_bytes_atomically
from reports.chart_data import fault_spans
from reports.percentiles import is_finite_number

__all__ = [
    "CHART_DPI",
    "CHART_SIZE_PX",
    "axes_figure",
    "format_seconds",
    "latency_axis",
    "latency_bins",
    "latency_thresholds",
    "legend_below",
    "new_figure",
    "no_chart",
    "save_png",
    "shade_faults",
    "shade_warmup",
    "text_label",
    "wide_spread",
]

CHART_DPI = 100
CHART_SIZE_PX = (1000, 500)
"""Width and height of every chart, in pixels."""

FAULT_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
LOG_SCALE_SPREAD = 20.0
"""Latencies spanning more than this factor get a log axis."""

FloatArray = npt.NDArray[np.float64]


def new_figure() -> Figure:
    """An empty ``CHART_SIZE_PX`` figure with constrained layout, on its own Agg canvas."""
    width, height = CHART_SIZE_PX
    fig = Figure(figsize=(width / CHART_DPI, height / CHART_DPI), dpi=CHART_DPI, layout="constrained")
    FigureCanvasAgg(fig)  # attaches itself as fig.canvas: Agg without touching pyplot's global backend
    return fig


def axes_figure() -> tuple[Figure, Axes]:
    """A new figure with one axes."""
    fig = new_figure()
    return fig, fig.add_subplot()


def save_png(fig: Figure, path: Path) -> Path:
    """Write the figure as a PNG atomically (no timestamp in it: same data, same bytes); return ``path``.

    Raises:
        OSError: the file cannot be written.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=CHART_DPI, metadata={"Software": None})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(path, buffer.getvalue())
    return path


def shade_faults(
    ax: Axes,
    faults: pd.DataFrame,
    origin: float,
    xlim: Iterable[float],
    *,
    legend: bool = True,
    names: bool = True,
) -> list[Any]:
    """Shade fault windows behind the data, named at the top when ``names``.

    Faults active over the whole range (static faults) are listed in the legend,
    not shaded. Returns the legend handles; adds them to the axes' own legend
    entries when ``legend``.
    """
    low, high = xlim
    handles: list[Any] = []
    whole: list[str] = []
    colors: dict[tuple[str, str], str] = {}
    label_y = blended_transform_factory(ax.transData, ax.transAxes)
    for span in fault_spans(faults, origin, high):
        name = f"{span.target}: {span.kind}"
        if span.start_s <= low and span.end_s >= high:
            whole.append(name)
            continue
        key = (span.target, span.kind)
        first = key not in colors
        color = colors.setdefault(key, FAULT_COLORS[len(colors) % len(FAULT_COLORS)])
        label = f"fault {text_label(name)}" if first else None
        ax.axvspan(
            max(span.start_s, low),
            min(span.end_s, high),
            color=color,
            alpha=0.15,
            label=label if legend else None,
            zorder=0,
        )
        if first:
            handles.append(Patch(facecolor=color, alpha=0.3, label=label))
        if not names:
            continue
        middle = (max(span.start_s, low) + min(span.end_s, high)) / 2
        ax.text(
            middle,
            0.98,
            text_label(name),
            transform=label_y,
            ha="center",
            va="top",
            fontsize=8,
            color="#333333",
            clip_on=True,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": color, "alpha": 0.8},
        )
    if whole:
        text = "faults throughout: " + ", ".join(text_label(name) for name in sorted(set(whole)))
        handles.append(Patch(facecolor="none", edgecolor="none", label=text))
        if legend:
            ax.plot([], [], linestyle="none", label=text)
    return handles


def legend_below(fig: Figure, ax: Axes, handles: list[Any] | None = None) -> None:
    """One legend under the plot, so it never hides data or the fault labels at the top."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=8)


def wide_spread(values: FloatArray) -> bool:
    """Whether the positive values span more than ``LOG_SCALE_SPREAD`` (so a log axis reads better)."""
    positive = values[values > 0]
    return bool(positive.size) and float(positive.max()) / float(positive.min()) > LOG_SCALE_SPREAD


def latency_bins(values: FloatArray, log: bool) -> FloatArray:
    """Bin edges: about 2·sqrt(n) bins (10 to 60), log-spaced for a wide spread."""
    count = int(np.clip(2 * math.sqrt(values.size), 10, 60)) + 1
    if log:
        positive = values[values > 0]
        return np.geomspace(float(positive.min()), float(positive.max()), count)
    low, high = float(values.min()), float(values.max())
    return np.linspace(low, high if high > low else low + 1e-3, count)


def latency_axis(ax: Axes, values: FloatArray, axis: str, *, log: bool | None = None) -> None:
    """Seconds shown as ms or s; a log scale when the values span a wide range."""
    finite = values[np.isfinite(values)]
    use_log = wide_spread(finite) if log is None else log
    target = ax.yaxis if axis == "y" else ax.xaxis
    if use_log:
        (ax.set_yscale if axis == "y" else ax.set_xscale)("log")
        positive = finite[finite > 0]
        decades = math.log10(float(positive.max()) / float(positive.min())) if positive.size else 0.0
        # Over a few decades 1-2-5 ticks keep the axis readable; wider, decades alone.
        target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
    elif axis == "y":
        ax.set_ylim(bottom=0)
    target.set_major_formatter(FuncFormatter(format_seconds))
    target.set_minor_formatter(FuncFormatter(lambda value, pos: ""))


def format_seconds(value: float, pos: int | None = None) -> str:
    """Tick label for a value in seconds: ``250 ms``, ``1.5 s``."""
    if value <= 0:
        return "0"
    if value < 1:
        return f"{value * 1000:g} ms"
    return f"{value:g} s"


def text_label(value: object) -> str:
    """Run-supplied text for a chart: ``$`` escaped so it is never parsed as mathtext."""
    return str(value).replace("$", r"\$")


def no_chart(path: Path) -> Path | None:
    """Nothing to draw: remove a chart left from an earlier rendering (never shown stale); return None."""
    path.unlink(missing_ok=True)
    return None


def latency_thresholds(slas: Sequence[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """(name, threshold in s) of every latency SLA result (``summary.json``'s ``slas``) with a threshold."""
    return [
        (str(sla.get("name")), float(sla["threshold"]))
        for sla in slas
        if sla.get("kind") == "latency" and is_finite_number(sla.get("threshold"))
    ]


def shade_warmup(ax: Axes, warmup_s: float) -> None:
    """Shade the warm-up (from the load start, left out of the SLAs) in grey, labelled for the legend."""
    if warmup_s > 0:
        ax.axvspan(0.0, warmup_s, color="#999999", alpha=0.12, zorder=0, label="warm-up (left out)")

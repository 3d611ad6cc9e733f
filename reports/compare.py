"""Comparing runs (configuration tunings): per-metric differences with bootstrap confidence intervals.

``python -m reports compare BASELINE RUN [RUN ...] [--out DIR]`` writes
``compare.json``, ``compare.md`` and ``compare.png`` (when matplotlib is there).
Every run is compared with the first. Metrics, over requests that were not dropped
and started after the run's warm-up (:mod:`reports.warmup`, as in its report):
``p50_s``, ``p95_s``, ``p99_s`` (exact nearest-rank), ``error_rate`` and
``availability`` (``docs/architecture.md``'s formulas), ``throughput_rps``
(completed requests per second of load after the warm-up).

Confidence intervals are percentile-bootstrap intervals of the difference
``run - baseline`` (default 95%, 2000 resamples, ``numpy.random.default_rng(seed)``),
each run resampled independently. To stay fast on million-request runs, the
resampling never touches individual rows:

- latency percentiles: the run's HDR histogram (:mod:`reports.hdr`) is resampled
  as a multinomial draw of its ``n`` counts, which is resampling the requests
  with replacement at the histogram's 3-significant-digit resolution;
- error rate and availability: a binomial draw of the failed requests among the
  counted ones (the same resampling, summarised);
- throughput: completed requests per 1-second bin, the bins resampled with
  replacement (resampling requests would keep their number fixed).

A difference is **real** when its interval excludes 0. Point estimates are the
exact figures; the intervals come from the resamples, so at the histogram's
resolution (0.1%) an interval may sit that much off its point.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from reports.atomic import replace_atomically, write_bytes_atomically
from reports.hdr import UNIT_S, HdrHistogram
from reports.load import load_run
from reports.load_plan import load_plan
from reports.percentiles import is_finite_number, nearest_rank, percentile
from reports.summary import json_safe, time_origin
from reports.warmup import load_start, split_warmup
from reports.windows import choose_window_s, windowed_percentiles

__all__ = [
    "METRICS",
    "RunSample",
    "bootstrap",
    "compare_runs",
    "load_sample",
    "render_compare_markdown",
    "write_compare",
]

METRICS: tuple[tuple[str, str], ...] = (
    ("p50_s", "s"),
    ("p95_s", "s"),
    ("p99_s", "s"),
    ("error_rate", "ratio"),
    ("availability", "ratio"),
    ("throughput_rps", "rps"),
)
_LATENCY = {"p50_s": 50, "p95_s": 95, "p99_s": 99}

FloatArray = npt.NDArray[np.float64]


@dataclass
class RunSample:
    """What the comparison needs from one run, read once."""

    run_id: str
    run_dir: Path
    latencies: FloatArray
    histogram: HdrHistogram
    ok: int
    failed: int
    per_second: FloatArray
    duration_s: float | None
    windows: list[dict[str, Any]]

    def values(self) -> dict[str, float | None]:
        """The exact point estimates of every metric."""
        n = self.latencies.size
        counted = self.ok + self.failed
        values: dict[str, float | None] = {
            key: percentile(self.latencies, p) if n else None for key, p in _LATENCY.items()
        }
        values["error_rate"] = self.failed / counted if counted else None
        values["availability"] = self.ok / counted if counted else None
        values["throughput_rps"] = n / self.duration_s if self.duration_s else None
        return values


def load_sample(run_dir: Path) -> RunSample:
    """Read a run directory for comparison.

    Raises:
        NotARunDirError, RunFileError: as :func:`reports.load.load_run`.
    """
    run = load_run(Path(run_dir))
    warmup_s = load_plan(run.scenario).warmup_s
    requests, warmup = split_warmup(run.requests, warmup_s, load_start(run))
    done = requests.loc[
        (requests["outcome"] != "dropped") & requests["latency_s"].notna() & requests["t_start"].notna()
    ]
    latencies = np.sort(done["latency_s"].to_numpy(dtype=np.float64))
    outcomes = requests["outcome"].value_counts()
    ok = int(outcomes.get("ok", 0))
    failed = int(outcomes.get("error", 0)) + int(outcomes.get("timeout", 0))
    t0 = time_origin(run)
    start, end = run.run_info.get("load_t_start"), run.run_info.get("load_t_end")
    ends = (done["t_start"] + done["latency_s"]).to_numpy(dtype=np.float64)
    if warmup.t_end is not None and is_finite_number(end) and float(end) > warmup.t_end:
        begin, duration = warmup.t_end, float(end) - warmup.t_end
    elif is_finite_number(start) and is_finite_number(end) and float(end) > float(start):
        begin, duration = float(start), float(end) - float(start)
    elif ends.size:
        begin = float(done["t_start"].min())
        duration = float(ends.max()) - begin
    else:
        begin, duration = 0.0, 0.0
    bins = max(1, math.ceil(duration)) if duration > 0 else 0
    per_second = (
        np.bincount(np.clip(np.floor(ends - begin).astype(np.int64), 0, bins - 1), minlength=bins).astype(
            np.float64
        )
        if bins and ends.size
        else np.zeros(bins, dtype=np.float64)
    )
    origin = t0 if t0 is not None else begin
    windows = windowed_percentiles(
        done["t_start"].to_numpy(dtype=np.float64),
        done["latency_s"].to_numpy(dtype=np.float64),
        origin,
        choose_window_s(duration),
    )
    return RunSample(
        str(run.run_info.get("run_id") or run.run_dir.name),
        run.run_dir,
        latencies,
        HdrHistogram.from_seconds(latencies),
        ok,
        failed,
        per_second,
        duration if duration > 0 else None,
        windows,
    )


def bootstrap(sample: RunSample, rng: np.random.Generator, resamples: int) -> dict[str, FloatArray]:
    """``resamples`` bootstrap values of every metric (see the module docstring); NaN where undefined."""
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
    run_dirs: Sequence[Path], resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[dict[str, Any], list[RunSample]]:
    """The comparison document (``compare.json``) and the samples it was computed from.

    Raises:
        ValueError: fewer than two runs, or ``resamples``/``confidence`` out of range.
        NotARunDirError, RunFileError: a run directory is not readable.
    """
    if len(run_dirs) < 2:
        raise ValueError(f"compare needs at least two run directories, got {len(run_dirs)}")
    if resamples < 10 or not 0 < confidence < 1:
        raise ValueError(f"resamples must be >= 10 and confidence in (0, 1), got {resamples}, {confidence}")
    rng = np.random.default_rng(seed)
    samples = [load_sample(Path(d)) for d in run_dirs]
    if len({s.run_id for s in samples}) < len(samples):  # copies of one run: tell them apart by path
        for sample in samples:
            sample.run_id = str(sample.run_dir)
    boots = [bootstrap(sample, rng, resamples) for sample in samples]
    points = [sample.values() for sample in samples]
    lo_q, hi_q = 100 * (1 - confidence) / 2, 100 * (1 + confidence) / 2
    comparisons = []
    for index in range(1, len(samples)):
        metrics = []
        for key, unit in METRICS:
            base, value = points[0][key], points[index][key]
            diffs = boots[index][key] - boots[0][key]
            diffs = diffs[np.isfinite(diffs)]
            low = high = None
            if base is not None and value is not None and diffs.size:
                low, high = (float(x) for x in np.percentile(diffs, [lo_q, hi_q]))
            diff = value - base if base is not None and value is not None else None
            metrics.append(
                {
                    "metric": key,
                    "unit": unit,
                    "baseline": base,
                    "value": value,
                    "diff": diff,
                    "relative": diff / base if diff is not None and base else None,
                    "ci_low": low,
                    "ci_high": high,
                    "real": bool(low is not None and high is not None and (low > 0 or high < 0)),
                }
            )
        comparisons.append(
            {"run_id": samples[index].run_id, "run_dir": str(samples[index].run_dir), "metrics": metrics}
        )
    document = {
        "baseline": {"run_id": samples[0].run_id, "run_dir": str(samples[0].run_dir)},
        "runs": [
            {"run_id": s.run_id, "run_dir": str(s.run_dir), "requests": int(s.latencies.size), **points[i]}
            for i, s in enumerate(samples)
        ],
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": confidence},
        "comparisons": comparisons,
    }
    return json_safe(document), samples


def render_compare_markdown(document: dict[str, Any]) -> str:
    """``compare.md``: one table per compared run."""
    boot = document["bootstrap"]
    lines = [
        "# chaosbench compare",
        "",
        f"Baseline: `{document['baseline']['run_id']}`. Differences are run − baseline with "
        f"{boot['confidence'] * 100:g}% bootstrap intervals ({boot['resamples']} resamples, seed {boot['seed']});"
        " a difference is **real** when its interval excludes 0.",
    ]
    for comparison in document["comparisons"]:
        lines += ["", f"## `{comparison['run_id']}` vs baseline", ""]
        lines += ["| metric | baseline | run | difference | interval | real? |", "|---|---|---|---|---|---|"]
        for m in comparison["metrics"]:
            unit = m["unit"]
            rel = f" ({m['relative'] * 100:+.1f}%)" if m.get("relative") is not None else ""
            interval = (
                f"[{_fmt(m['ci_low'], unit, signed=True)}, {_fmt(m['ci_high'], unit, signed=True)}]"
                if m.get("ci_low") is not None
                else "n/a"
            )
            lines.append(
                f"| {m['metric']} | {_fmt(m['baseline'], unit)} | {_fmt(m['value'], unit)} | "
                f"{_fmt(m['diff'], unit, signed=True)}{rel} | {interval} | {'**yes**' if m['real'] else 'no'} |"
            )
    return "\n".join(lines) + "\n"


def write_compare(document: dict[str, Any], samples: Sequence[RunSample], out_dir: Path) -> list[Path]:
    """Write ``compare.json``, ``compare.md`` and (with matplotlib) ``compare.png``; return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "compare.json", out_dir / "compare.md"]
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomically(paths[0], text.encode("utf-8"))
    write_bytes_atomically(paths[1], render_compare_markdown(document).encode("utf-8"))
    chart = _chart(document, samples, out_dir / "compare.png")
    return [*paths, *([chart] if chart else [])]


def _chart(document: dict[str, Any], samples: Sequence[RunSample], path: Path) -> Path | None:
    """Side by side: the latency percentiles of each run, and each run's p95 over time."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - matplotlib is a dependency; the chart is optional
        return None
    figure, (bars, lines) = plt.subplots(1, 2, figsize=(12, 4.5))
    width = 0.8 / max(1, len(samples))
    keys = list(_LATENCY)
    for index, run in enumerate(document["runs"]):
        heights = [(run.get(key) or 0.0) * 1000 for key in keys]
        bars.bar(np.arange(len(keys)) + index * width, heights, width, label=run["run_id"])
    bars.set_xticks(
        np.arange(len(keys)) + width * (len(samples) - 1) / 2, [k.removesuffix("_s") for k in keys]
    )
    bars.set_ylabel("latency (ms)")
    bars.set_title("Latency percentiles")
    bars.legend(fontsize="small")
    for sample in samples:
        xs = [w["t_rel_s"] for w in sample.windows]
        lines.plot(xs, [w["p95"] * 1000 for w in sample.windows], marker=".", label=sample.run_id)
    lines.set_xlabel("time from load start (s)")
    lines.set_ylabel("p95 latency (ms)")
    lines.set_title("p95 per window")
    lines.legend(fontsize="small")
    figure.tight_layout()

    def save(tmp: Path) -> None:
        figure.savefig(tmp, format="png", dpi=100)

    replace_atomically(path, save)
    plt.close(figure)
    return path


def _fmt(value: float | None, unit: str, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    sign = "+" if signed and value > 0 else ""
    if unit == "s":
        return f"{sign}{value * 1000:.4g} ms"
    if unit == "ratio":
        return f"{sign}{value * 100:.4g}%"
    return f"{sign}{value:.4g}/s"

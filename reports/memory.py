"""Memory growth per process over a run, for the ``rss_growth`` SLA.

A process's growth is the median RSS of its last ``window_s`` seconds of samples minus
the median of its first ``window_s`` seconds, both within ``[start, end]`` (the caller
passes the measured window: after the warm-up and the SLA's ``settle_s``). Medians of
whole windows, not a fitted slope: one GC pause or one allocation burst moves neither
end, and the figure reads as what a person would check on the RSS chart ("it grew by
N MiB from the first minute to the last").

Processes are the ``samples`` rows' ``process`` names matched with :func:`fnmatch`
(``gateway``, ``server-*``, ``locust*``, ``orchestrator``). A name with several pids
(a server restarted by a fault timeline) is measured per pid, since a new process
starts small; the largest growth is the process's figure. A process (or pid) whose
samples span less than two windows is not measured, and said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

import pandas as pd

__all__ = ["Growth", "SampleWindow", "rss_growth"]

MIB = 1024 * 1024


@dataclass(frozen=True)
class SampleWindow:
    """The run's ``samples`` and its measured window (after the warm-up, to the end of the load)."""

    samples: pd.DataFrame
    start: float | None
    end: float | None


@dataclass(frozen=True)
class Growth:
    """The largest growth among the matching processes (``None``: none could be measured)."""

    growth_mib: float | None
    process: str | None  # the process (and pid, when it had several) that grew most
    first_mib: float | None
    last_mib: float | None
    measured: tuple[str, ...]  # every process (or process@pid) measured
    detail: str


def rss_growth(
    samples: pd.DataFrame, pattern: str, start: float | None, end: float | None, window_s: float
) -> Growth:
    """Growth in MiB of the processes matching ``pattern`` between ``start`` and ``end`` (module docstring)."""
    needed = {"t", "process", "rss_bytes"}
    if not needed <= set(samples.columns):
        return Growth(None, None, None, None, (), "the run has no RSS samples")
    rows = samples.loc[samples["rss_bytes"].notna() & samples["t"].notna()]
    rows = rows.loc[[fnmatchcase(str(p), pattern) for p in rows["process"]]]
    if rows.empty:
        return Growth(None, None, None, None, (), f"no RSS samples of a process matching {pattern!r}")
    if start is not None:
        rows = rows.loc[rows["t"] >= start]
    if end is not None:
        rows = rows.loc[rows["t"] <= end]
    pid = rows["pid"] if "pid" in rows.columns else pd.Series(pd.NA, index=rows.index)
    rows = rows.assign(_pid=pid.astype("string").fillna(""))
    several = rows.groupby("process")["_pid"].nunique() > 1
    groups = rows.groupby(["process", "_pid"], sort=True)
    best: tuple[float, str, float, float] | None = None
    measured: list[str] = []
    short: list[str] = []
    for (process, pid_text), group in groups:
        label = f"{process}@{pid_text}" if several.get(process, False) and pid_text else str(process)
        t = group["t"].astype(float)
        if t.max() - t.min() < 2 * window_s:
            short.append(f"{label} ({t.max() - t.min():.0f} s of samples)")
            continue
        rss = group["rss_bytes"].astype(float) / MIB
        first = float(rss[t <= t.min() + window_s].median())
        last = float(rss[t >= t.max() - window_s].median())
        measured.append(label)
        if best is None or last - first > best[0]:
            best = (last - first, label, first, last)
    if best is None:
        why = ", ".join(short) if short else "no samples in the measured window"
        return Growth(
            None,
            None,
            None,
            None,
            (),
            f"no process matching {pattern!r} has two {window_s:g} s windows: {why}",
        )
    growth, label, first, last = best
    detail = (
        f"{label}: median RSS {first:.1f} MiB in the first {window_s:g} s, {last:.1f} MiB in the last "
        f"({growth:+.1f} MiB); largest of {len(measured)} process(es) measured"
    )
    if short:
        detail += f"; too short to measure: {', '.join(short)}"
    return Growth(growth, label, first, last, tuple(measured), detail)

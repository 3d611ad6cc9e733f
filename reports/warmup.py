"""The load window of a run and its warm-up cut.

A scenario's ``load.warmup_s`` is the first seconds of load that count for
nothing: the requests started in them (``t_start < load start + warmup_s``) are
left out of every SLA and of the headline figures (request counts, error rate,
availability, error budget, latency percentiles, throughput), and the report says
how many were left out. Time-series charts still show them, shaded.

The load start is ``load_t_start`` from ``run.json``; without it, the first
request's start; without requests, the run's start. The load end is
``load_t_end``, else the last request's end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reports.load import RunData
from reports.percentiles import is_finite_number

__all__ = ["Warmup", "load_end", "load_start", "split_warmup"]


@dataclass(frozen=True)
class Warmup:
    """The warm-up cut: ``warmup_s`` seconds from the load start, ending at ``t_end`` (epoch s).

    ``excluded`` requests started before ``t_end``; ``by_outcome`` counts them per outcome.
    ``t_end`` is ``None`` when there is no warm-up or no load start to count from.
    """

    warmup_s: float = 0.0
    t_end: float | None = None
    excluded: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)

    def to_dict(self, t0: float | None) -> dict[str, Any]:
        """``summary.json``'s ``warmup`` block."""
        return {
            "warmup_s": self.warmup_s,
            "t_end": self.t_end,
            "t_end_rel_s": self.t_end - t0 if self.t_end is not None and t0 is not None else None,
            "requests_excluded": self.excluded,
            "by_outcome": dict(self.by_outcome),
        }


def load_start(run: RunData) -> float | None:
    """The instant the load started: ``run.json``'s ``load_t_start``, else the first request, else the run start."""
    value = run.run_info.get("load_t_start")
    if is_finite_number(value):
        return float(value)
    first_request = run.requests["t_start"].min()
    if is_finite_number(first_request):
        return float(first_request)
    run_start = run.run_info.get("t_start")
    return float(run_start) if is_finite_number(run_start) else None


def load_end(run: RunData) -> float | None:
    """The instant the load ended: ``run.json``'s ``load_t_end``, else the last request's end."""
    value = run.run_info.get("load_t_end")
    if is_finite_number(value):
        return float(value)
    ends = (run.requests["t_start"] + run.requests["latency_s"].fillna(0.0)).dropna()
    return float(ends.max()) if len(ends) else None


def split_warmup(requests: pd.DataFrame, warmup_s: float, start: float | None) -> tuple[pd.DataFrame, Warmup]:
    """The requests the figures count (started at or after the warm-up's end) and the cut itself.

    Requests without a ``t_start`` cannot be placed in time and are kept.
    """
    if warmup_s <= 0 or start is None:
        return requests, Warmup(max(warmup_s, 0.0), None, 0, {})
    t_end = start + warmup_s
    early = requests["t_start"].notna() & (requests["t_start"] < t_end)
    counts = requests.loc[early, "outcome"].astype(str).value_counts()
    by_outcome = {str(outcome): int(count) for outcome, count in counts.sort_index().items()}
    return requests.loc[~early], Warmup(warmup_s, t_end, int(early.sum()), by_outcome)

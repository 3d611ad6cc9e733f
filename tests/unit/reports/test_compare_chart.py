"""compare.png: CDF lines of bounded size, and no chart when no run has a latency."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reports.compare import RunSample
from reports.compare_chart import cdf_points, write_chart
from reports.hdr import HdrHistogram


def test_a_cdf_line_keeps_every_point_of_a_small_run() -> None:
    small = np.array([0.1, 0.2, 0.3, 0.4])

    xs, ys = cdf_points(small)

    assert xs.tolist() == small.tolist() and ys.tolist() == [0.25, 0.5, 0.75, 1.0]


def test_a_cdf_line_of_a_large_run_is_capped_and_still_ends_at_the_maximum() -> None:
    large = np.sort(np.random.default_rng(1).uniform(0, 1, 100_000))

    xs, ys = cdf_points(large, limit=500)

    assert xs.size <= 500 and ys[-1] == 1.0 and xs[-1] == large[-1]
    assert bool(np.all(np.diff(ys) > 0))
    assert bool(np.all(xs == large[np.round(ys * large.size).astype(int) - 1]))


def test_an_empty_run_has_an_empty_line() -> None:
    xs, ys = cdf_points(np.empty(0))

    assert xs.size == ys.size == 0


def test_no_chart_is_drawn_when_no_run_has_a_latency_and_a_stale_one_is_removed(tmp_path: Path) -> None:
    empty = RunSample(
        {}, {}, np.empty(0), HdrHistogram.from_seconds(np.empty(0)), 0, 0, np.empty(0), None, []
    )
    stale = tmp_path / "compare.png"
    stale.write_bytes(b"old")

    assert write_chart([empty, empty], stale) is None
    assert not stale.exists()

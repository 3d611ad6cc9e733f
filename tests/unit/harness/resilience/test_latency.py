"""The rolling latency estimator: nearest-rank quantiles over the last observations."""

from __future__ import annotations

import pytest

from harness.resilience.latency import LatencyEstimator


def test_quantiles_use_the_nearest_rank() -> None:
    est = LatencyEstimator(100, refresh_every=1)
    for ms in range(1, 21):
        est.observe(ms / 1000)
    assert est.quantile(0.95) == 0.019  # ceil(0.95 * 20) = 19th value
    assert est.quantile(0.5) == 0.010
    assert est.quantile(1.0) == 0.020


def test_only_the_last_capacity_observations_count() -> None:
    est = LatencyEstimator(3, refresh_every=1)
    for value in (9.0, 9.0, 9.0, 1.0, 2.0, 3.0):
        est.observe(value)
    assert est.count == 3 and est.quantile(1.0) == 3.0


def test_the_sorted_copy_is_refreshed_every_few_observations() -> None:
    est = LatencyEstimator(100, refresh_every=5)
    est.observe(1.0)
    assert est.quantile(1.0) == 1.0
    for _ in range(4):
        est.observe(5.0)
    assert est.quantile(1.0) == 1.0  # not refreshed yet: 4 new observations
    est.observe(5.0)
    assert est.quantile(1.0) == 5.0


def test_no_estimate_before_any_observation() -> None:
    assert LatencyEstimator().quantile(0.95) is None


@pytest.mark.parametrize("q", [0.0, 1.5])
def test_quantile_must_be_in_zero_one(q: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        LatencyEstimator().quantile(q)

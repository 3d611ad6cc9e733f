"""Load-generator saturation and host CPU: the thresholds exactly at their boundaries."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from reports.generator import (
    SATURATED_CPU_PERCENT,
    SATURATED_MIN_BUSY_SAMPLES,
    check_generator,
    host_cpu,
    more_than_share,
)

T0 = 1_700_000_000.0


def _samples(process: str, cpu: list[float], start: float = T0, **extra: Any) -> list[dict[str, Any]]:
    return [
        {"t": start + i, "process": process, "pid": 9, "cpu_percent": value, "rss_bytes": 1, **extra}
        for i, value in enumerate(cpu)
    ]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def test_exactly_ten_percent_busy_samples_is_not_saturated() -> None:
    rows = _samples("locust-w1", [95.0] * 3 + [40.0] * 27)  # 3 of 30 = 10%

    check = check_generator(_frame(rows), None, None)

    assert check.saturated is False
    figures = check.processes["locust-w1"]
    assert (figures["samples"], figures["busy_samples"], figures["saturated"]) == (30, 3, False)
    assert "no Locust process was at >= 90% CPU in more than 10%" in check.detail


def test_one_busy_sample_over_ten_percent_is_saturated() -> None:
    rows = _samples("locust-w1", [95.0] * 4 + [40.0] * 26)  # 4 of 30 > 10%

    check = check_generator(_frame(rows), None, None)

    assert check.saturated is True
    assert check.detail == "locust-w1 at >= 90% CPU in 4 of 30 samples (13%), max 95%"


def test_exactly_ninety_percent_cpu_is_busy_and_just_under_is_not() -> None:
    at = check_generator(_frame(_samples("locust", [SATURATED_CPU_PERCENT] * 3 + [10.0] * 7)), None, None)
    under = check_generator(_frame(_samples("locust", [89.999] * 10)), None, None)

    assert at.processes["locust"]["busy_samples"] == 3 and at.saturated is True  # 3 of 10 = 30%
    assert under.processes["locust"]["busy_samples"] == 0 and under.saturated is False


def test_fewer_than_three_busy_samples_never_saturate_even_in_a_short_run() -> None:
    # The CI failure this guards against: a 5 s run, one busy sample of seven (14%) at Locust's own stop.
    one = check_generator(_frame(_samples("locust", [94.0] + [30.0] * 6)), None, None)
    two = check_generator(_frame(_samples("locust", [94.0, 95.0] + [30.0] * 5)), None, None)
    three = check_generator(_frame(_samples("locust", [94.0, 95.0, 96.0] + [30.0] * 4)), None, None)

    assert (one.saturated, two.saturated, three.saturated) == (False, False, True)
    assert SATURATED_MIN_BUSY_SAMPLES == 3


@pytest.mark.parametrize(("part", "whole"), [(1, 10), (3, 30), (7, 70), (10, 100), (29, 290)])
def test_the_share_is_compared_exactly(part: int, whole: int) -> None:
    assert not more_than_share(part, whole, 0.1)
    assert more_than_share(part + 1, whole, 0.1)


def test_only_locust_cpu_samples_in_the_window_count() -> None:
    rows = _samples("locust-w1", [99.0] * 5, start=T0 - 10)  # during the warm-up
    rows += _samples("locust-w1", [20.0] * 10, start=T0)
    rows += _samples("locust-w1", [99.0] * 5, start=T0 + 20)  # after the load ended (teardown)
    rows += _samples("gateway", [100.0] * 10, start=T0)  # not the load generator
    rows += [{"t": T0 + i, "process": "locust-w1", "locust_users": 50} for i in range(10)]  # no CPU

    check = check_generator(_frame(rows), T0, T0 + 10)

    assert check.saturated is False
    assert list(check.processes) == ["locust-w1"]
    assert check.processes["locust-w1"]["samples"] == 10
    assert check.max_cpu_percent == 20.0


def test_any_saturated_process_saturates_the_generator() -> None:
    rows = (
        _samples("locust", [5.0] * 10)
        + _samples("locust-w1", [30.0] * 10)
        + _samples("locust-w2", [97.0] * 10)
    )

    check = check_generator(_frame(rows), None, None)

    assert check.saturated is True
    assert [name for name, f in check.processes.items() if f["saturated"]] == ["locust-w2"]
    assert check.p90_cpu_percent == 97.0
    assert check.to_dict()["processes"]["locust-w2"]["busy_share"] == 1.0


def test_no_locust_cpu_samples_means_not_checked() -> None:
    check = check_generator(_frame(_samples("gateway", [50.0])), None, None)

    assert check.saturated is None
    assert "saturation not checked" in check.detail


def test_the_host_is_busy_when_over_95_percent_in_more_than_half_of_the_seconds() -> None:
    busy = [100.0] * 6 + [50.0] * 4  # two processes on two cores: 100% in 6 of 10 s
    rows = _samples("gateway", busy) + _samples("locust", busy)

    host = host_cpu(_frame(rows), 2, None, None)

    assert host is not None and host.busy
    assert (host.seconds, host.busy_seconds, host.max_percent) == (10, 6, 100.0)
    warning = host.warning()
    assert warning is not None and "in 6 of 10 s" in warning


def test_the_host_busy_in_exactly_half_of_the_seconds_is_not_warned_about() -> None:
    rows = _samples("gateway", [190.0] * 5 + [10.0] * 5)  # one process using both cores

    host = host_cpu(_frame(rows), 2, None, None)

    assert host is not None and not host.busy and host.warning() is None


def test_a_process_sampled_twice_in_a_second_counts_its_mean() -> None:
    second = {"t": T0 + 0.5, "process": "gateway", "cpu_percent": 60.0, "rss_bytes": 1}
    rows = [*_samples("gateway", [100.0]), second]

    host = host_cpu(_frame(rows), 1, None, None)

    assert host is not None and host.max_percent == 80.0


def test_no_cpu_count_means_no_host_figures() -> None:
    assert host_cpu(_frame(_samples("gateway", [50.0])), None, None, None) is None
    assert host_cpu(_frame(_samples("gateway", [50.0])), "2", None, None) is None

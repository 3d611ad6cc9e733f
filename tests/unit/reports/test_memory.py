"""rss_growth: RSS growth per process from the samples table, and the SLA that bounds it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.scenario import RssGrowthSla, parse_scenario
from reports.memory import MIB, SampleWindow, rss_growth
from reports.sla import evaluate_sla, format_threshold, format_value


def series(process: str, mib: list[float], *, pid: int = 100, t0: float = 1000.0) -> pd.DataFrame:
    """One sample a second: RSS ``mib[i]`` at ``t0 + i``."""
    return pd.DataFrame(
        {
            "t": [t0 + i for i in range(len(mib))],
            "process": process,
            "pid": pid,
            "rss_bytes": [int(m * MIB) for m in mib],
            "cpu_percent": 1.0,
        }
    )


def samples(*parts: pd.DataFrame) -> pd.DataFrame:
    return pd.concat(parts, ignore_index=True)


FLAT = [100.0] * 600
LEAK = [100.0 + i / 60 for i in range(600)]  # 1 MiB a minute: +10 MiB over 10 min
PLATEAU = [100.0 + min(i, 120) / 12 for i in range(600)]  # +10 MiB in 2 min, then flat


def sla(**fields: object) -> dict[str, object]:
    return {"name": "no leak", "kind": "rss_growth", "process": "gateway", "max_mib": 5, **fields}


def test_a_flat_process_has_no_growth_and_a_leak_has_its_growth() -> None:
    flat = rss_growth(series("gateway", FLAT), "gateway", None, None, 60)
    assert flat.growth_mib == 0.0 and flat.process == "gateway"
    leak = rss_growth(series("gateway", LEAK), "gateway", None, None, 60)
    # medians of seconds 0-60 and 539-599: 100.5 and 109.48 MiB
    assert leak.growth_mib == pytest.approx(9.0 - 1 / 60, abs=0.01)
    assert "first 60 s" in leak.detail


def test_the_glob_picks_the_process_that_grew_most() -> None:
    data = samples(
        series("server-weather", FLAT, pid=1), series("server-db", LEAK, pid=2), series("gateway", LEAK)
    )
    found = rss_growth(data, "server-*", None, None, 60)
    assert found.process == "server-db" and set(found.measured) == {"server-db", "server-weather"}
    assert rss_growth(data, "locust*", None, None, 60).growth_mib is None


def test_a_restarted_process_is_measured_per_pid_not_across_the_restart() -> None:
    # 200 MiB before a crash, 50 MiB after the restart: neither pid grew
    data = samples(
        series("server-weather", [200.0] * 300, pid=1), series("server-weather", [50.0] * 300, pid=2, t0=1300)
    )
    found = rss_growth(data, "server-weather", None, None, 60)
    assert found.growth_mib == 0.0 and set(found.measured) == {"server-weather@1", "server-weather@2"}


def test_too_few_samples_is_no_data_and_says_why() -> None:
    found = rss_growth(series("gateway", FLAT[:100]), "gateway", None, None, 60)
    assert found.growth_mib is None and "99 s of samples" in found.detail


def test_the_sla_passes_a_plateau_after_its_settle_time_and_fails_a_leak() -> None:
    plateau = SampleWindow(series("gateway", PLATEAU), start=1000.0, end=1599.0)
    failed = evaluate_sla(sla(), pd.DataFrame(), memory=plateau)
    # medians of the first 60 s (ramping 100 -> 105 MiB) and the last: 102.5 and 110 MiB
    assert not failed.passed and failed.measured == pytest.approx(7.5, abs=0.1)
    settled = evaluate_sla(sla(settle_s=180), pd.DataFrame(), memory=plateau)
    assert settled.passed and settled.measured == 0.0 and "from 180 s after the warm-up" in settled.detail
    leak = evaluate_sla(
        sla(settle_s=180), pd.DataFrame(), memory=SampleWindow(series("gateway", LEAK), 1000.0, 1599.0)
    )
    assert not leak.passed and leak.unit == "MiB" and format_threshold(leak) == "<= 5.0 MiB"
    assert format_value(leak.measured, "MiB").endswith(" MiB")


def test_the_sla_without_samples_or_with_a_bad_field_fails_saying_so() -> None:
    assert "no data: the run's samples were not given" in evaluate_sla(sla(), pd.DataFrame()).detail
    bad = evaluate_sla(
        sla(max_mib="lots"), pd.DataFrame(), memory=SampleWindow(series("gateway", FLAT), None, None)
    )
    assert not bad.passed and "'max_mib' must be a number" in bad.detail
    none = evaluate_sla(
        sla(process="gateway"), pd.DataFrame(), memory=SampleWindow(series("locust", FLAT), None, None)
    )
    assert not none.passed and "no RSS samples of a process matching 'gateway'" in none.detail


@given(
    st.lists(st.floats(min_value=10, max_value=1000), min_size=2, max_size=8),
    st.floats(min_value=0, max_value=50),
)
def test_growth_is_last_window_median_minus_first(levels: list[float], leak: float) -> None:
    """Steps of 60 s at each level, plus a leak added in the last window only."""
    mib = [level for level in levels for _ in range(60)]
    mib[-60:] = [m + leak for m in mib[-60:]]
    found = rss_growth(series("gateway", mib), "gateway", None, None, 59)
    first, last = levels[0], levels[-1] + leak
    assert found.growth_mib == pytest.approx(last - first, abs=1e-3)


def test_the_scenario_schema_checks_rss_growth_slas() -> None:
    base = {"name": "s", "system": {"servers": {"weather": {}}}, "load": {"users": 1, "duration_s": 3}}
    sc = parse_scenario({**base, "slas": [sla(settle_s=300)]}, "s.yaml")
    assert sc.slas[0] == RssGrowthSla(
        name="no leak", kind="rss_growth", process="gateway", max_mib=5, settle_s=300
    )
    assert sc.slas[0].window_s == 60.0
    for bad, where in [
        ({"max_mib": 0}, "max_mib"),
        ({"process": ""}, "process"),
        ({"window_s": 0}, "window_s"),
    ]:
        with pytest.raises(ScenarioError, match=rf"s\.yaml: slas\[0\]\.{where}: "):
            parse_scenario({**base, "slas": [sla(**bad)]}, "s.yaml")


def test_soak_bounds_every_long_lived_process() -> None:
    soak = parse_scenario(
        __import__("yaml").safe_load(
            (Path(__file__).resolve().parents[3] / "scenarios" / "soak.yaml").read_text()
        ),
        "soak.yaml",
    )
    bounded = {s.process for s in soak.slas if isinstance(s, RssGrowthSla)}
    assert {"gateway", "server-*", "orchestrator"} <= bounded

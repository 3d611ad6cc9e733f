"""The comparison's pure decisions: directions, the call, gates and scenario differences."""

from __future__ import annotations

import pytest

from reports.compare_delta import (
    call,
    check_gate,
    config_differences,
    delta,
    metric_named,
    parse_gate,
    sla_rows,
)


@pytest.mark.parametrize(
    ("name", "baseline", "value", "change"),
    [
        ("p95", 0.2, 0.1, "better"),
        ("p95", 0.1, 0.2, "worse"),
        ("rps", 10.0, 12.0, "better"),
        ("availability", 0.99, 0.98, "worse"),
        ("error_rate", 0.01, 0.01, "same"),
        ("opens", 2, 0, "better"),
    ],
)
def test_the_change_follows_the_metrics_better_direction(
    name: str, baseline: float, value: float, change: str
) -> None:
    row = delta(metric_named(name), baseline, value)

    assert row["change"] == change
    assert row["diff"] == pytest.approx(value - baseline)
    assert row["relative"] == pytest.approx((value - baseline) / baseline)
    assert row["real"] is None  # no interval given


def test_a_zero_baseline_has_no_relative_change_and_a_missing_value_no_change() -> None:
    assert delta(metric_named("errors"), 0.0, 0.1)["relative"] is None
    assert delta(metric_named("errors"), 0.0, 0.1)["change"] == "worse"
    assert delta(metric_named("p95"), None, 0.1)["change"] is None


def test_a_difference_is_real_only_when_its_interval_excludes_zero() -> None:
    p95 = metric_named("p95")
    assert delta(p95, 0.1, 0.2, (0.05, 0.15))["real"] is True
    assert delta(p95, 0.1, 0.2, (-0.01, 0.15))["real"] is False
    assert delta(p95, 0.2, 0.1, (-0.15, -0.05))["real"] is True


def test_the_call_rests_on_real_changes_only() -> None:
    p50, p95, rps = metric_named("p50"), metric_named("p95"), metric_named("rps")
    faster = delta(p50, 0.2, 0.1, (-0.15, -0.05))
    slower = delta(p95, 0.2, 0.3, (0.05, 0.15))
    noise = delta(rps, 10.0, 9.0, (-2.0, 1.0))

    assert call([faster, noise], trustworthy=True)["call"] == "better"
    assert call([slower, noise], trustworthy=True)["call"] == "worse"
    assert call([faster, slower], trustworthy=True) == {
        "call": "mixed",
        "better": ["p50_s"],
        "worse": ["p95_s"],
    }
    assert call([noise], trustworthy=True)["call"] == "no real difference"
    assert call([faster], trustworthy=False)["call"] == "untrustworthy"


def test_a_gate_allows_exactly_its_percentage_and_no_more() -> None:
    gate = parse_gate("p95:10")
    p95 = gate.metric

    at_limit = delta(p95, 1.0, 1.1)  # 10.000000000000009% in floating point
    assert check_gate(gate, at_limit, True, "run 2")["passed"] is True
    assert check_gate(gate, delta(p95, 1.0, 1.1001), True, "run 2")["passed"] is False
    assert check_gate(gate, delta(p95, 0.1, 0.05), True, "run 2")["worse_pct"] == 0.0


def test_a_gate_on_a_higher_is_better_metric_counts_drops() -> None:
    gate = parse_gate("rps:5%")
    result = check_gate(gate, delta(gate.metric, 100.0, 90.0), True, "run 2")

    assert result["passed"] is False and result["worse_pct"] == pytest.approx(10.0)
    assert result["detail"] == "requests/s worse by 10.0% (limit 5%)"


def test_a_gate_fails_closed_without_a_value_or_trust() -> None:
    gate = parse_gate("p99:50")

    assert check_gate(gate, delta(gate.metric, None, 0.1), True, "run 2")["passed"] is False
    assert check_gate(gate, delta(gate.metric, 0.1, 0.1), False, "run 2")["passed"] is False


def test_a_gate_over_a_zero_baseline_fails_on_any_worsening() -> None:
    gate = parse_gate("error_rate:1000")
    result = check_gate(gate, delta(gate.metric, 0.0, 0.001), True, "run 2")

    assert result["passed"] is False and result["worse_pct"] is None
    assert "from 0" in result["detail"]
    unchanged = check_gate(gate, delta(gate.metric, 0.0, 0.0), True, "run 2")
    assert unchanged["passed"] is True and unchanged["worse_pct"] == 0.0


def test_config_differences_list_changed_key_paths_but_not_descriptions() -> None:
    base = {"name": "smoke", "description": "a", "system.manager.pool.size": 1, "seed": 1}
    other = {"name": "smoke", "description": "b", "system.manager.pool.size": 4, "seed": 1, "profile": "p4"}

    assert config_differences(base, other) == [
        {"key": "profile", "baseline": None, "value": "p4"},
        {"key": "system.manager.pool.size", "baseline": 1, "value": 4},
    ]


def test_sla_rows_line_up_slas_by_name_across_runs() -> None:
    runs = [
        {"slas": [{"name": "p95", "passed": True, "measured": 0.1, "unit": "s"}]},
        {"slas": [{"name": "errors", "passed": False, "measured": 0.2, "unit": "ratio"}]},
    ]

    rows = sla_rows(runs)

    assert [row["name"] for row in rows] == ["p95", "errors"]
    assert rows[0]["results"] == [{"passed": True, "measured": 0.1}, None]
    assert rows[1]["results"] == [None, {"passed": False, "measured": 0.2}]


def test_a_gates_detail_says_whether_the_difference_was_real() -> None:
    gate = parse_gate("p95:5")

    noisy = check_gate(gate, delta(gate.metric, 0.1, 0.12, (-0.01, 0.05)), True, "run 2")
    real = check_gate(gate, delta(gate.metric, 0.1, 0.12, (0.01, 0.03)), True, "run 2")

    assert noisy["passed"] is False and real["passed"] is False  # the gate is on the point figures
    assert noisy["detail"].endswith("(limit 5%; within noise: its interval includes 0)")
    assert real["detail"].endswith("(limit 5%; a real difference)")

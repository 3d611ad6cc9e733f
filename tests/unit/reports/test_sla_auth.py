"""SLAs over session types: the session_type filter and the rejections kind; the session-type table."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from reports import evaluate_sla
from reports.session_types import by_session_type, md_session_types
from reports.tables import TABLES, conform


def _rows(session_type: str, statuses: list[int], latency_s: float = 0.1) -> list[dict[str, Any]]:
    return [
        {
            "t_start": 1.0 + i,
            "latency_s": latency_s,
            "outcome": "ok" if s == 200 else "error",
            "status": s,
            "name": "agent_turn",
            "session_type": session_type,
            "role": "guest",
        }
        for i, s in enumerate(statuses)
    ]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame, _ = conform(pd.DataFrame.from_records(rows), TABLES["requests"], "requests")
    return frame


MIXED = _frame(
    _rows("valid", [200] * 9 + [403], latency_s=0.2)
    + _rows("forged", [401] * 4 + [200], latency_s=0.01)
    + _rows("under", [403] * 5, latency_s=0.02)
    + [{**_rows("forged", [0])[0], "outcome": "dropped", "drop_reason": "cut_short"}]
)


def test_rejections_at_least_counts_the_listed_statuses_over_answered_requests() -> None:
    sla = {
        "name": "forged",
        "kind": "rejections",
        "session_type": "forged",
        "statuses": [401],
        "min_ratio": 1.0,
    }

    result = evaluate_sla(sla, MIXED)

    assert result.measured == pytest.approx(0.8)  # 4 of 5 answered; the dropped row counts nowhere
    assert not result.passed
    assert result.comparison == ">="
    assert "4 of 5 answered requests of session type(s) forged got 401" in result.detail


def test_rejections_at_most_counts_401_and_403_by_default_over_several_types() -> None:
    sla = {"name": "valid", "kind": "rejections", "session_type": ["valid", "under"], "max_ratio": 0.5}

    result = evaluate_sla(sla, MIXED)

    assert result.measured == pytest.approx(6 / 15)
    assert result.passed
    assert result.comparison == "<="


def test_rejections_at_the_threshold_pass_both_ways() -> None:
    at_least = {
        "name": "u",
        "kind": "rejections",
        "session_type": "under",
        "statuses": [403],
        "min_ratio": 1.0,
    }
    at_most = {"name": "v", "kind": "rejections", "session_type": "valid", "max_ratio": 0.1}

    assert evaluate_sla(at_least, MIXED).passed
    assert evaluate_sla(at_most, MIXED).passed


def test_a_session_type_filter_narrows_latency_error_rate_and_availability() -> None:
    latency = {"name": "p", "kind": "latency", "percentile": 100, "max_s": 0.05, "session_type": "forged"}
    errors = {"name": "e", "kind": "error_rate", "max_ratio": 0.1, "session_type": ["valid"]}
    available = {"name": "a", "kind": "availability", "min_ratio": 0.95, "session_type": "valid"}

    assert evaluate_sla(latency, MIXED).measured == pytest.approx(0.01)
    assert evaluate_sla(errors, MIXED).measured == pytest.approx(0.1)
    assert evaluate_sla(errors, MIXED).passed
    assert evaluate_sla(available, MIXED).measured == pytest.approx(0.9)
    assert not evaluate_sla(available, MIXED).passed


def test_an_unknown_session_type_or_a_run_without_the_column_fails_as_no_data() -> None:
    sla = {"name": "x", "kind": "rejections", "session_type": "ghost", "min_ratio": 1.0}
    assert not evaluate_sla(sla, MIXED).passed
    assert "no requests recorded" in evaluate_sla(sla, MIXED).detail

    old = MIXED.drop(columns=["session_type"])
    result = evaluate_sla({**sla, "session_type": "forged"}, old)
    assert result.measured is None and not result.passed
    assert "no session_type column" in result.detail


def test_a_rejections_sla_without_a_bound_is_a_failed_result_not_an_exception() -> None:
    result = evaluate_sla({"name": "r", "kind": "rejections", "statuses": "401", "min_ratio": 1}, MIXED)
    assert not result.passed and "statuses" in result.detail


def test_the_session_type_table_counts_requests_401s_403s_and_p95_per_type() -> None:
    scenario = {
        "load": {"sessions": [{"name": "valid", "role": "editor"}, {"name": "forged", "token": "wrong_key"}]}
    }

    rows = by_session_type(MIXED, 10.0, scenario)

    assert [r["session_type"] for r in rows] == ["valid", "forged", "under"]
    valid, forged, under = rows
    assert (valid["role"], valid["token"], valid["requests"], valid["status_403"]) == (
        "editor",
        "valid",
        10,
        1,
    )
    assert valid["rps"] == pytest.approx(1.0)
    assert valid["p95_s"] == pytest.approx(0.2)
    assert (forged["token"], forged["requests"], forged["status_401"], forged["errors"]) == (
        "wrong_key",
        6,
        4,
        4,
    )
    assert (under["role"], under["token"], under["status_403"]) == ("guest", None, 5)
    table = md_session_types({"by_session_type": rows})
    assert "| forged | user | wrong_key | 6 | 0.5 |" in table


def test_no_session_type_column_gives_no_table() -> None:
    assert by_session_type(MIXED.drop(columns=["session_type"]), 10.0, {}) == []
    assert md_session_types({"by_session_type": []}) == ""

"""SLA kinds of issue 7: availability, sessions_held, error_rate with include_dropped; old run data."""

from __future__ import annotations

from typing import Any

import pandas as pd

from reports.sessions import SessionsHeld
from reports.sla import NO_DATA, SlaResult, evaluate_sla, evaluate_slas, format_threshold
from reports.tables import TABLES, conform


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame, _ = conform(pd.DataFrame.from_records(rows), TABLES["requests"], "requests")
    return frame


def _rows(
    outcomes: dict[str, int], drop_reason: str | None = None, name: str = "turn"
) -> list[dict[str, Any]]:
    rows = []
    for outcome, count in outcomes.items():
        for _ in range(count):
            row: dict[str, Any] = {"t_start": 1.0, "latency_s": 0.1, "outcome": outcome, "name": name}
            if drop_reason is not None:
                row["drop_reason"] = drop_reason if outcome == "dropped" else ""
            rows.append(row)
    return rows


AVAILABILITY = {"name": "three nines", "kind": "availability", "min_ratio": 0.999}


def test_availability_is_ok_over_ok_errors_and_timeouts_and_passes_at_the_threshold() -> None:
    requests = _frame(_rows({"ok": 999, "error": 1, "dropped": 50}))

    result = evaluate_sla(AVAILABILITY, requests)

    assert result.measured == 0.999
    assert result.passed
    assert (result.unit, result.comparison, result.threshold) == ("ratio", ">=", 0.999)
    assert "999 ok of 1000 requests" in result.detail
    assert format_threshold(result) == ">= 99.9%"


def test_availability_under_the_threshold_fails() -> None:
    result = evaluate_sla(AVAILABILITY, _frame(_rows({"ok": 998, "timeout": 2})))

    assert result.measured == 0.998
    assert not result.passed
    assert "under 99.9%" in result.detail


def test_availability_of_one_request_name_and_without_data() -> None:
    requests = _frame(_rows({"ok": 10}, name="health") + _rows({"error": 1}, name="turn"))
    sla = {"name": "turns", "kind": "availability", "min_ratio": 0.5, "request": "turn"}

    assert evaluate_sla(sla, requests).measured == 0.0
    empty = evaluate_sla(AVAILABILITY, _frame(_rows({"dropped": 3})))
    assert (empty.passed, empty.measured) == (False, None)
    assert empty.detail == NO_DATA


def test_availability_without_min_ratio_fails_saying_why() -> None:
    result = evaluate_sla({"name": "a", "kind": "availability"}, _frame(_rows({"ok": 1})))

    assert not result.passed
    assert "'min_ratio' must be a number" in result.detail


INCLUDE_DROPPED = {"name": "errors", "kind": "error_rate", "max_ratio": 0.05, "include_dropped": True}


def test_include_dropped_counts_arrivals_that_never_started_as_errors() -> None:
    requests = _frame(
        _rows({"ok": 90, "error": 2}, drop_reason="")
        + _rows({"dropped": 8}, drop_reason="not_started")
        + _rows({"dropped": 5}, drop_reason="cut_short")
    )

    result = evaluate_sla(INCLUDE_DROPPED, requests)

    assert result.measured == 10 / 100  # (2 + 8) / (90 + 2 + 8): requests cut short count nowhere
    assert not result.passed
    assert "2 error + 0 timeout + 8 not started of 100 requests" in result.detail


def test_without_include_dropped_arrivals_that_never_started_count_nowhere() -> None:
    requests = _frame(
        _rows({"ok": 90, "error": 2}, drop_reason="") + _rows({"dropped": 8}, drop_reason="not_started")
    )

    result = evaluate_sla({**INCLUDE_DROPPED, "include_dropped": False}, requests)

    assert result.measured == 2 / 92
    assert result.passed


def test_include_dropped_on_a_run_without_drop_reason_fails_as_no_data_when_there_are_drops() -> None:
    requests = _frame(_rows({"ok": 90, "dropped": 3}))  # written before the column existed

    result = evaluate_sla(INCLUDE_DROPPED, requests)

    assert not result.passed
    assert result.measured is None
    assert result.detail.startswith("no data: 3 dropped request(s) but no drop_reason column")


def test_include_dropped_on_a_run_without_drop_reason_or_drops_is_evaluated() -> None:
    result = evaluate_sla(INCLUDE_DROPPED, _frame(_rows({"ok": 99, "error": 1})))

    assert result.passed
    assert result.measured == 0.01


def _held(minimum: float | None, detail: str = "locust_users: min 95 over 10 s") -> SessionsHeld:
    return SessionsHeld("locust_users", 100, 5.0, "first second", 5.0, 15.0, 10, minimum, 100.0, detail)


SESSIONS = {"name": "held 95", "kind": "sessions_held", "min_sessions": 95}


def test_sessions_held_passes_at_the_minimum_and_fails_below_it() -> None:
    requests = _frame([])

    at = evaluate_sla(SESSIONS, requests, sessions=_held(95.0))
    below = evaluate_sla(SESSIONS, requests, sessions=_held(94.0))

    assert (at.passed, at.measured, at.comparison, at.unit) == (True, 95.0, ">=", "sessions")
    assert not below.passed
    assert format_threshold(at) == ">= 95 sessions"


def test_sessions_held_without_session_samples_fails_as_no_data() -> None:
    no_samples = _held(None, "no Locust session samples (sessions_in_flight / locust_users columns)")

    results = evaluate_slas([SESSIONS], _frame([]), sessions=no_samples)
    without = evaluate_sla(SESSIONS, _frame([]))

    assert [r.passed for r in results] == [False]
    assert results[0].detail.startswith("no data: no Locust session samples")
    assert not without.passed and without.detail == "no data: sessions in flight were not computed"


def test_a_result_says_which_way_its_threshold_points() -> None:
    assert SlaResult("p95", "latency", True, 0.5, 1.0, "s", "").to_dict()["comparison"] == "<="
    assert format_threshold({"threshold": 0.99, "unit": "ratio", "comparison": ">="}) == ">= 99%"
    assert format_threshold({"threshold": None}) == "n/a"

"""SLA evaluation: latency percentiles and error rates over the requests table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest

from reports import SlaResult, evaluate_sla, evaluate_slas
from reports.sla import format_value
from reports.tables import TABLES, conform, empty_frame

MakeRequests = Callable[..., list[dict[str, Any]]]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame, _ = conform(pd.DataFrame.from_records(rows), TABLES["requests"], "requests")
    return frame


def _latency_rows(latencies: list[float], outcome: str = "ok", name: str = "turn") -> list[dict[str, Any]]:
    return [{"t_start": 1.0, "latency_s": value, "outcome": outcome, "name": name} for value in latencies]


def test_error_rate_counts_errors_and_timeouts_over_completed_requests(make_requests: MakeRequests) -> None:
    requests = _frame(make_requests(100, {"error": 2, "timeout": 1}))

    result = evaluate_sla({"name": "errors", "kind": "error_rate", "max_ratio": 0.05}, requests)

    assert result.measured == 0.03
    assert result.passed
    assert result.unit == "ratio"
    assert result.threshold == 0.05


def test_error_rate_excludes_dropped_requests(make_requests: MakeRequests) -> None:
    requests = _frame(make_requests(120, {"error": 3, "dropped": 20}))

    result = evaluate_sla({"name": "errors", "kind": "error_rate", "max_ratio": 0.01}, requests)

    assert result.measured == 0.03
    assert not result.passed
    assert "3 error + 0 timeout of 100 requests" in result.detail


def test_error_rate_equal_to_the_threshold_passes(make_requests: MakeRequests) -> None:
    requests = _frame(make_requests(100, {"timeout": 1}))

    assert evaluate_sla({"name": "e", "kind": "error_rate", "max_ratio": 0.01}, requests).passed


def test_latency_sla_uses_the_nearest_rank_percentile() -> None:
    requests = _frame(_latency_rows([i / 100 for i in range(1, 101)]))

    result = evaluate_sla({"name": "p95", "kind": "latency", "percentile": 95, "max_s": 0.95}, requests)

    assert result.measured == 0.95
    assert result.passed
    assert result.unit == "s"


def test_latency_sla_fails_when_the_percentile_exceeds_max_s() -> None:
    requests = _frame(_latency_rows([0.1] * 90 + [2.0] * 10))

    result = evaluate_sla({"name": "p95", "kind": "latency", "percentile": 95, "max_s": 1.0}, requests)

    assert not result.passed
    assert result.measured == 2.0
    assert "over" in result.detail


def test_latency_sla_ignores_dropped_requests() -> None:
    rows = _latency_rows([0.1] * 10) + _latency_rows([30.0] * 10, outcome="dropped")

    result = evaluate_sla({"name": "p99", "kind": "latency", "percentile": 99, "max_s": 1.0}, _frame(rows))

    assert result.passed
    assert result.measured == 0.1


def test_latency_sla_counts_errors_and_timeouts() -> None:
    rows = _latency_rows([0.1] * 9) + _latency_rows([5.0], outcome="timeout")

    result = evaluate_sla({"name": "max", "kind": "latency", "percentile": 100, "max_s": 1.0}, _frame(rows))

    assert result.measured == 5.0


def test_sla_with_a_request_name_looks_only_at_that_request() -> None:
    rows = _latency_rows([0.1] * 10, name="health") + _latency_rows([3.0] * 10, name="turn")
    sla = {"name": "health fast", "kind": "latency", "percentile": 50, "max_s": 0.5, "request": "health"}

    result = evaluate_sla(sla, _frame(rows))

    assert result.passed
    assert "for request 'health'" in result.detail


@pytest.mark.parametrize(
    "sla",
    [
        {"name": "p95", "kind": "latency", "percentile": 95, "max_s": 1.0},
        {"name": "errors", "kind": "error_rate", "max_ratio": 0.01},
    ],
)
def test_sla_without_requests_fails_saying_so(sla: dict[str, Any]) -> None:
    result = evaluate_sla(sla, empty_frame(TABLES["requests"]))

    assert not result.passed
    assert result.measured is None
    assert result.detail == "no requests recorded"


def test_sla_over_only_dropped_requests_has_no_data() -> None:
    rows = _latency_rows([1.0] * 5, outcome="dropped")

    result = evaluate_sla({"name": "e", "kind": "error_rate", "max_ratio": 0.5}, _frame(rows))

    assert not result.passed
    assert result.detail == "no requests recorded"


def test_sla_for_a_request_name_that_never_ran_has_no_data() -> None:
    sla = {"name": "p50", "kind": "latency", "percentile": 50, "max_s": 1.0, "request": "missing"}

    result = evaluate_sla(sla, _frame(_latency_rows([0.1])))

    assert result.detail == "no requests recorded for request 'missing'"


def test_unknown_sla_kind_fails_naming_the_kind_without_crashing() -> None:
    result = evaluate_sla(
        {"name": "breaker", "kind": "opens_within", "max_s": 3}, _frame(_latency_rows([0.1]))
    )

    assert result == SlaResult("breaker", "opens_within", False, None, None, "", result.detail)
    assert "'opens_within'" in result.detail


def test_sla_missing_a_threshold_fails_naming_the_field() -> None:
    result = evaluate_sla({"name": "p95", "kind": "latency", "percentile": 95}, _frame(_latency_rows([0.1])))

    assert not result.passed
    assert "'max_s'" in result.detail


def test_sla_with_a_percentile_out_of_range_fails_instead_of_raising() -> None:
    sla = {"name": "p0", "kind": "latency", "percentile": 0, "max_s": 1.0}

    result = evaluate_sla(sla, _frame(_latency_rows([0.1])))

    assert not result.passed
    assert "(0, 100]" in result.detail


def test_slas_are_evaluated_in_order_and_none_gives_no_results() -> None:
    requests = _frame(_latency_rows([0.1]))
    slas: list[dict[str, Any]] = [
        {"name": "b", "kind": "error_rate", "max_ratio": 0},
        {"name": "a", "kind": "nope"},
    ]

    assert [result.name for result in evaluate_slas(slas, requests)] == ["b", "a"]
    assert evaluate_slas(None, requests) == []


def test_result_serialises_to_the_summary_shape() -> None:
    result = SlaResult("p95", "latency", True, 0.5, 1.0, "s", "fine")

    assert result.to_dict() == {
        "name": "p95",
        "kind": "latency",
        "passed": True,
        "measured": 0.5,
        "threshold": 1.0,
        "unit": "s",
        "detail": "fine",
        "comparison": "<=",
    }


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.5123, "s", "512.3 ms"),
        (0.0000123, "s", "0.0123 ms"),
        (1.0, "s", "1 s"),
        (12.345, "s", "12.3 s"),
        (1234.5, "s", "1234 s"),
        (0.03, "ratio", "3%"),
        (0.0123, "ratio", "1.23%"),
        (None, "s", "n/a"),
    ],
)
def test_values_are_formatted_for_people(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text

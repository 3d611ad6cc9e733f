"""metrics/final.prom against the calls table: parsed with prometheus_client's parser, compared exactly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.final_metrics import check_final_metrics, final_metrics_note, tool_call_counters

PROM = """\
# HELP mcp_tool_calls_total Tool-call attempts through the manager, by outcome
# TYPE mcp_tool_calls_total counter
mcp_tool_calls_total{outcome="ok",server="weather",tool="get_forecast"} 3.0
mcp_tool_calls_total{outcome="denied",server="database",tool="insert"} 1.0
# HELP agent_requests_total Requests
# TYPE agent_requests_total counter
agent_requests_total{status="200"} 4.0
"""


def _calls(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame.from_records(rows, columns=["server", "tool", "outcome"])


def _run(tmp_path: Path, text: str | None) -> Path:
    if text is not None:
        (tmp_path / "metrics").mkdir()
        (tmp_path / "metrics" / "final.prom").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_tool_call_counters_are_read_by_server_tool_and_outcome() -> None:
    assert tool_call_counters(PROM) == {
        ("weather", "get_forecast", "ok"): 3,
        ("database", "insert", "denied"): 1,
    }


def test_counters_that_match_the_calls_table_agree(tmp_path: Path) -> None:
    calls = _calls([("weather", "get_forecast", "ok")] * 3 + [("database", "insert", "denied")])

    block = check_final_metrics(_run(tmp_path, PROM), calls)

    assert block["available"] and block["agree"]
    assert block["tool_calls_metrics"] == block["tool_calls_table"] == 4
    assert "agrees with the calls table (4 attempts)" in final_metrics_note({"final_metrics": block})


def test_a_lost_row_or_an_extra_group_is_a_mismatch_naming_the_group(tmp_path: Path) -> None:
    calls = _calls([("weather", "get_forecast", "ok")] * 2 + [("weather", "get_forecast", "timeout")])

    block = check_final_metrics(_run(tmp_path, PROM), calls)

    assert block["agree"] is False
    assert {
        (m["server"], m["tool"], m["outcome"], m["metrics"], m["table"]) for m in block["mismatches"]
    } == {
        ("database", "insert", "denied", 1, 0),
        ("weather", "get_forecast", "ok", 3, 2),
        ("weather", "get_forecast", "timeout", 0, 1),
    }


def test_no_file_or_a_bad_file_is_unavailable_not_an_error(tmp_path: Path) -> None:
    assert check_final_metrics(_run(tmp_path / "a", None), _calls([]))["available"] is False
    (tmp_path / "b").mkdir()
    bad = check_final_metrics(_run(tmp_path / "b", "mcp_tool_calls_total{ 1\n"), _calls([]))
    assert bad["available"] is False and "does not parse" in bad["detail"]

"""The corrected-latency block both reports render from one helper (report.md and report.html agree)."""

from __future__ import annotations

import html
from typing import Any

from reports import html as html_report
from reports import markdown as md_report
from reports.report_text import corrected_latency


def summary(corrected: dict[str, float] | None, how: dict[str, Any]) -> dict[str, Any]:
    raw = {"count": 10, "p50": 0.010, "p95": 0.020, "p99": 0.030, "max": 0.040}
    return {
        "requests": {"latency_s": raw, "latency_corrected_s": corrected},
        "percentiles": {"coordinated_omission": how},
    }


CORRECTED = {"p50": 0.011, "p95": 0.5, "p99": 1.25, "max": 2.0}


def test_nothing_to_show_without_corrected_latency_or_requests() -> None:
    assert corrected_latency(summary(None, {})) is None
    empty = summary(CORRECTED, {})
    empty["requests"]["latency_s"] = {"count": 0}
    assert corrected_latency(empty) is None
    assert md_report._corrected(summary(None, {})) == "" and html_report._corrected(summary(None, {})) == ""


def test_rows_and_note_say_how_many_values_were_added_and_whether_exact() -> None:
    found = corrected_latency(
        summary(
            CORRECTED, {"model": "closed", "method": "HdrHistogram", "synthetic_count": 7, "exact": False}
        )
    )
    assert found is not None
    rows, note = found
    assert [r[0] for r in rows] == ["p50", "p95", "p99", "max"]
    assert rows[1][1] != rows[1][2]  # raw 20 ms, corrected 500 ms
    assert note == (
        "closed model, HdrHistogram (7 values added). "
        "Corrected figures are from the HDR histogram (3 significant digits)."
    )
    _, exact_note = corrected_latency(summary(CORRECTED, {"model": "open", "method": "none"})) or ([], "")
    assert exact_note == "open model, none."


def test_markdown_and_html_show_the_same_rows_and_note() -> None:
    s = summary(CORRECTED, {"model": "closed | odd", "method": "m", "synthetic_count": 3})
    rows, note = corrected_latency(s) or ([], "")
    md, page = md_report._corrected(s), html_report._corrected(s)
    assert "closed \\| odd model, m (3 values added)." in md  # a pipe cannot break the Markdown
    assert html.escape(note) in page
    for key, raw, corrected in rows:
        assert f"- {key}: raw {raw}, corrected {corrected}" in md
        assert raw in page and corrected in page

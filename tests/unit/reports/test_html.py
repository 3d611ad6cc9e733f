"""The HTML report: self-contained (no URL it could fetch), every chart inline, all text escaped."""

from __future__ import annotations

import base64
import html.parser
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports import render_run
from reports.html import CONTENT_SECURITY_POLICY, EmbeddedChart, render_html

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]

T0 = 1_700_000_000.0
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (1000).to_bytes(4, "big") + (500).to_bytes(4, "big")


class Page(html.parser.HTMLParser):
    """Every tag with its attributes, and the text, of one HTML document."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def rich_run(make_run: MakeRun, make_requests: MakeRequests, **kwargs: Any) -> Path:
    calls = [
        {
            "t_start": T0 + i * 0.05,
            "latency_s": 0.02,
            "server": "weather",
            "tool": "get_forecast",
            "outcome": "ok",
        }
        for i in range(100)
    ]
    breaker = [
        {"t": T0 + 1.0, "server": "weather", "from_state": "closed", "to_state": "open", "reason": "3 x"}
    ]
    faults = [{"t_start": T0 + 0.5, "t_end": T0 + 2.0, "target": "weather", "kind": "crash", "params": "{}"}]
    samples = [
        {
            "t": T0 + s,
            "process": "gateway",
            "pid": 2,
            "cpu_percent": 5.0,
            "rss_bytes": 10**8,
            "agent_in_progress": 1,
        }
        for s in range(5)
    ]
    tables = {
        "requests": make_requests(200, {"error": 30}),
        "calls": calls,
        "breaker": breaker,
        "faults": faults,
        "samples": samples,
    }
    return make_run(tables=tables, **kwargs)


@pytest.fixture
def rendered(make_run: MakeRun, make_requests: MakeRequests) -> tuple[Path, str]:
    outcome = render_run(rich_run(make_run, make_requests))
    assert outcome.html_path is not None
    return outcome.html_path, outcome.html_path.read_text(encoding="utf-8")


def test_the_page_references_no_url_it_could_fetch(rendered: tuple[Path, str]) -> None:
    _, text = rendered
    page = Page(text)

    assert "http://" not in text and "https://" not in text
    assert not page.all("script")
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (tag, name, value)
    assert "@import" not in text and "url(" not in text


def test_the_page_tells_the_browser_it_may_load_nothing_but_inline_styles_and_data_images(
    rendered: tuple[Path, str],
) -> None:
    policies = [a for a in Page(rendered[1]).all("meta") if a.get("http-equiv") == "Content-Security-Policy"]

    assert [policy.get("content") for policy in policies] == [CONTENT_SECURITY_POLICY]


def test_every_chart_png_is_embedded_as_a_data_uri(rendered: tuple[Path, str]) -> None:
    path, text = rendered
    pngs = {p.read_bytes() for p in sorted(path.parent.glob("*.png"))}

    images = Page(text).all("img")

    assert len(pngs) == 6
    embedded = set()
    for image in images:
        src = image["src"] or ""
        assert src.startswith("data:image/png;base64,")
        embedded.add(base64.b64decode(src.removeprefix("data:image/png;base64,"), validate=True))
        assert (image.get("width"), image.get("height")) == ("1000", "500")
        assert image.get("alt")
    assert embedded == pngs


def test_the_page_mirrors_the_markdown_sections(rendered: tuple[Path, str]) -> None:
    text = " ".join(Page(rendered[1]).text)

    for heading in (
        "What happened",
        "SLAs",
        "Charts",
        "Requests by name",
        "Tool calls",
        "Circuit breakers",
        "Faults applied",
        "Processes",
    ):
        assert heading in text
    assert "errors under 5%" in text and "15%" in text  # 30 errors of 200
    assert "+1.000 s" in text  # the breaker transition, relative to the load start


@pytest.mark.parametrize(
    ("status", "requests_errors", "verdict"),
    [("completed", 0, "pass"), ("completed", 30, "fail"), ("interrupted", 0, "error")],
)
def test_the_banner_carries_the_verdict_class(
    make_run: MakeRun, make_requests: MakeRequests, status: str, requests_errors: int, verdict: str
) -> None:
    run_dir = make_run(status=status, tables={"requests": make_requests(100, {"error": requests_errors})})

    outcome = render_run(run_dir)

    assert outcome.html_path is not None
    headers = Page(outcome.html_path.read_text()).all("header")
    assert [header.get("class") for header in headers] == [f"verdict verdict-{verdict}"]


def test_hostile_text_from_the_run_is_escaped() -> None:
    summary = minimal_summary(
        scenario="<script>alert('x')</script>", warning='"><img src=x onerror=alert(1)>'
    )
    chart = EmbeddedChart("latency_over_time", "<b>title</b>", PNG)

    text = render_html(summary, [chart], ["chart <i>x</i> failed"])

    page = Page(text)
    assert "<script" not in text
    assert not page.all("script") and not page.all("b") and not page.all("i")
    assert [image["src"] for image in page.all("img")] == [chart.data_uri()]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in text
    assert "chaosbench: <script>alert('x')</script>" in " ".join(page.text)


def test_chart_warnings_are_listed_after_the_summary_ones() -> None:
    text = render_html(minimal_summary(warning="from the summary"), [], ["chart pool_usage.png not drawn"])

    first, second = "<li>from the summary</li>", "<li>chart pool_usage.png not drawn</li>"
    assert first in text and second in text
    assert text.index(first) < text.index(second)


def test_a_page_without_charts_says_so() -> None:
    assert "No charts were drawn" in render_html(minimal_summary())


def minimal_summary(scenario: str = "smoke", warning: str | None = None) -> dict[str, Any]:
    latency = {
        "count": 0,
        "mean": None,
        "min": None,
        "p50": None,
        "p90": None,
        "p95": None,
        "p99": None,
        "max": None,
    }
    group = {"total": 0, "by_outcome": {"ok": 0}, "error_rate": None, "latency_s": latency}
    return {
        "schema_version": 1,
        "run_id": "r1",
        "scenario": scenario,
        "status": "completed",
        "reason": None,
        "verdict": "pass",
        "exit_code": 0,
        "t0": T0,
        "slas": [],
        "requests": {**group, "duration_s": None, "throughput_rps": None},
        "by_name": {},
        "calls": {"total": 0, "by_server_tool_outcome": []},
        "breaker": {"transitions": [], "final_state": {}},
        "faults": [],
        "locust": None,
        "samples": {},
        "warnings": [warning] if warning else [],
    }


def test_breaker_checks_and_corrected_latency_are_shown_when_the_summary_has_them() -> None:
    summary = minimal_summary()
    summary["requests"]["latency_s"] = {"count": 3, "p50": 0.1, "p95": 0.2, "p99": 0.3, "max": 0.4}
    summary["requests"]["latency_corrected_s"] = {"count": 3, "p50": 0.1, "p95": 0.9, "p99": 1.5, "max": 2.0}
    summary["percentiles"] = {
        "coordinated_omission": {"model": "closed", "method": "hdr", "synthetic_count": 7}
    }
    summary["breaker_checks"] = [
        {
            "name": "opens_within",
            "server": "weather",
            "passed": False,
            "detail": "opened <late>",
            "violations": [{"t": T0 + 3, "t_rel_s": 3.0, "message": "stayed closed"}],
            "violation_count": 1,
        }
    ]
    summary["breaker_recovery"] = [
        {
            "target": "weather",
            "kind": "crash",
            "t_start_rel_s": 1.0,
            "t_end_rel_s": 2.0,
            "time_to_open_s": 0.5,
        }
    ]

    text = render_html(summary)

    assert '<section id="breaker-checks">' in text
    assert '<td class="result-fail">FAIL</td><td>opened &lt;late&gt;</td>' in text
    assert "at +3.000 s: stayed closed</li>" in text
    assert "Fault windows and the breaker" in text and "500.0 ms" in text
    assert "Latency corrected for coordinated omission" in text and "(7 values added)" in text

"""The self-contained HTML report (``report/report.html``), rendered from the summary document.

Like ``report.md`` it is built only from ``summary.json``'s content
(:mod:`reports.summary`), so the two cannot disagree; the charts are embedded as
``data:image/png;base64`` URIs. The page references nothing outside itself (all
CSS inline, no script, no link, no font) and says so to the browser with a
Content-Security-Policy that forbids any load but inline styles and ``data:``
images, so it opens the same offline, from a CI artifact or an e-mail. Every
piece of text from the run is escaped with :func:`html.escape`.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from reports.atomic import write_bytes_atomically
from reports.final_metrics import final_metrics_note
from reports.locust_csv import AGGREGATED
from reports.report_load import CAPACITY_CAPTION, html_capacity, html_load, html_reasons, load_rows
from reports.report_text import (
    corrected_latency,
    dropped,
    esc,
    fmt_cpu,
    fmt_mib,
    fmt_relative,
    fmt_seconds,
    html_code,
    html_table,
    load_duration,
    num_cell,
)
from reports.session_types import html_session_types
from reports.sla import format_threshold, format_value

__all__ = ["CHART_CAPTIONS", "CONTENT_SECURITY_POLICY", "EmbeddedChart", "render_html", "write_html"]

CONTENT_SECURITY_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
"""Nothing but inline styles and data: images may load: the page is self-contained by construction."""

CHART_CAPTIONS: Mapping[str, str] = {
    "latency_over_time": "p50, p95 and p99 latency of the requests started in each 1 s window "
    "(nearest rank). Shaded: fault windows as the servers applied them; dotted: latency SLAs.",
    "throughput_errors": "Requests completed per second, stacked by outcome, by completion time. "
    "Dropped requests (cut short by the end of the run) are not counted.",
    "breaker_states": "Each server's circuit breaker state over time, from the breaker transitions; "
    "a server without transitions stayed closed.",
    "pool_usage": "Requests in flight as the load generator saw them (every 100 ms) and the gauges "
    "the sampler recorded (e.g. the gateway's agent_in_progress, about once a second).",
    "cpu_per_process": "CPU (percent of one core) and resident memory of every process of the run.",
    "latency_distribution": "Distribution of completed requests' latency: histogram and cumulative "
    "distribution with p50, p95 and p99 marked; a corrected series is drawn when one was computed.",
    "sessions_over_time": "Sessions in flight per second, summed over the Locust processes (the last sample "
    "of each in that second), beside the load shape's target; shaded: the window the sessions_held SLA checks.",
    "capacity": CAPACITY_CAPTION,
}

_VERDICT_CLASSES = frozenset({"pass", "fail", "error"})
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ALL = "(all)"

_CSS = """
:root { color-scheme: light; --pass: #1a7f37; --fail: #cf222e; --error: #9a6700; --line: #d0d7de; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328;
       background: #fff; }
header.verdict { padding: 1.2rem 2rem; color: #fff; background: #57606a; }
header.verdict-pass { background: var(--pass); }
header.verdict-fail { background: var(--fail); }
header.verdict-error { background: var(--error); }
header h1 { margin: 0; font-size: 1.5rem; }
header .badge { display: inline-block; margin: .4rem 0 0; padding: .1rem .7rem; border: 2px solid #fff;
                border-radius: 4px; font-weight: 700; letter-spacing: .08em; }
header .meta { margin: .4rem 0 0; opacity: .92; }
nav { padding: .5rem 2rem; border-bottom: 1px solid var(--line); background: #f6f8fa; font-size: .9rem; }
nav a { margin-right: 1rem; color: #0969da; text-decoration: none; }
main { padding: 0 2rem 2rem; max-width: 1200px; }
h3 { margin: 1.4rem 0 .4rem; font-size: 1rem; }
h2 { margin: 2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid var(--line); font-size: 1.2rem; }
table { border-collapse: collapse; margin: .4rem 0; font-size: .9rem; }
th, td { padding: .25rem .6rem; border: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { width: 11rem; }
td.result-pass { color: var(--pass); font-weight: 700; }
td.result-fail { color: var(--fail); font-weight: 700; }
tr.total td { font-weight: 600; background: #f6f8fa; }
code { font: .85em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; word-break: break-all; }
figure { margin: 1.2rem 0; }
figure img { display: block; box-sizing: content-box; max-width: 100%; height: auto;
             border: 1px solid var(--line); }
figcaption { max-width: 1000px; color: #57606a; font-size: .9rem; }
p.note { color: #57606a; font-size: .9rem; max-width: 1000px; }
ul.warnings li { margin: .2rem 0; }
header ul.reasons { margin: .6rem 0 0; padding-left: 1.2rem; font-weight: 600; }
footer { padding: 1rem 2rem; color: #57606a; font-size: .8rem; border-top: 1px solid var(--line); }
"""


class ChartLike(Protocol):
    """A chart file to embed (``reports.charts.ChartFile`` is one)."""

    @property
    def name(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def path(self) -> Path: ...


@dataclass(frozen=True)
class EmbeddedChart:
    """A chart to embed: its stem (``latency_over_time``), title and PNG bytes."""

    name: str
    title: str
    png: bytes

    @property
    def size_px(self) -> tuple[int, int] | None:
        """(width, height) from the PNG header, or None when the bytes are not a PNG."""
        if len(self.png) < 24 or not self.png.startswith(_PNG_SIGNATURE):
            return None
        width, height = struct.unpack(">II", self.png[16:24])
        return int(width), int(height)

    def data_uri(self) -> str:
        """The PNG as a ``data:image/png;base64,...`` URI."""
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def write_html(
    summary: dict[str, Any], charts: Iterable[ChartLike], report_dir: Path, warnings: Sequence[str] = ()
) -> Path:
    """Write ``report_dir/report.html`` atomically, embedding the chart files; return its path.

    ``warnings`` are shown after the summary's own (e.g. charts that could not be drawn).

    Raises:
        OSError: a chart file cannot be read or the report cannot be written.
    """
    embedded = [EmbeddedChart(chart.name, chart.title, chart.path.read_bytes()) for chart in charts]
    path = report_dir / "report.html"
    write_bytes_atomically(path, render_html(summary, embedded, warnings).encode("utf-8"))
    return path


def render_html(
    summary: dict[str, Any], charts: Sequence[EmbeddedChart] = (), warnings: Sequence[str] = ()
) -> str:
    """Render the page for a summary built by :func:`reports.summary.build_summary`."""
    verdict = str(summary.get("verdict") or "unknown").lower()
    verdict_class = verdict if verdict in _VERDICT_CLASSES else "unknown"
    scenario = str(summary.get("scenario") or "unnamed scenario")
    capacity_charts = [chart for chart in charts if chart.name == "capacity"]
    sections = [
        ("what-happened", "What happened", _what_happened(summary)),
        ("slas", "SLAs", _slas(summary.get("slas") or [])),
        ("capacity", "Capacity", html_capacity(summary, _figures(capacity_charts))),
        ("load", "Load generator and sessions", html_load(summary)),
        ("charts", "Charts", _charts([chart for chart in charts if chart.name != "capacity"])),
        ("requests", "Requests by name", _requests(summary)),
        ("session-types", "Requests by session type", html_session_types(summary)),
        ("calls", "Tool calls", _calls(summary["calls"]) + _final_metrics(summary)),
        ("breakers", "Circuit breakers", _breaker(summary["breaker"])),
        (
            "breaker-checks",
            "Breaker checks",
            _breaker_checks(summary.get("breaker_checks") or [], summary.get("breaker_recovery") or []),
        ),
        ("faults", "Faults applied", _faults(summary.get("faults") or [])),
        ("processes", "Processes", _processes(summary.get("samples") or {})),
        ("warnings", "Warnings", _warnings([*summary.get("warnings", []), *warnings])),
    ]
    present = [(anchor, title, body) for anchor, title, body in sections if body]
    nav = " ".join(f'<a href="#{anchor}">{esc(title)}</a>' for anchor, title, _ in present)
    main = "\n".join(
        f'<section id="{anchor}">\n<h2>{esc(title)}</h2>\n{body}\n</section>'
        for anchor, title, body in present
    )
    meta = f"exit code {esc(summary.get('exit_code'))} · run {esc(summary.get('status'))} · {esc(summary.get('run_id'))}"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(CONTENT_SECURITY_POLICY)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chaosbench: {esc(scenario)} — {esc(verdict.upper())}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>
</head>
<body>
<header class="verdict verdict-{verdict_class}">
<h1>chaosbench: {esc(scenario)}</h1>
<p class="badge">{esc(verdict.upper())}</p>
<p class="meta">{meta}</p>
{html_reasons(summary)}
</header>
<nav>{nav}</nav>
<main>
{main}
</main>
<footer>Rendered from report/summary.json (schema version {esc(summary.get("schema_version"))}).
Times are seconds from the load start.</footer>
</body>
</html>
"""


def _what_happened(summary: dict[str, Any]) -> str:
    requests = summary["requests"]
    outcomes = ", ".join(f"{esc(k)} {esc(v)}" for k, v in requests["by_outcome"].items())
    throughput = requests.get("throughput_rps")
    verdict = str(summary.get("verdict") or "").upper()
    rows = [
        ("Verdict", f"<strong>{esc(verdict)}</strong> (exit code {esc(summary.get('exit_code'))})"),
        ("Run status", esc(summary.get("status"))),
        ("Reason", esc(summary.get("reason") or "—")),
        ("Run id", f"<code>{esc(summary.get('run_id'))}</code>"),
        ("Load duration", esc(load_duration(summary))),
        (
            "Requests",
            f"{esc(requests['total'])}" + (f" ({outcomes})" if outcomes else "") + esc(dropped(requests)),
        ),
        (
            "Throughput",
            esc(f"{throughput:.1f} req/s (completed requests)" if throughput is not None else "n/a"),
        ),
        ("Error rate", esc(format_value(requests.get("error_rate"), "ratio"))),
        ("Availability", esc(format_value(summary.get("availability"), "ratio"))),
        ("Error budget", esc(_budget(summary.get("error_budget")))),
        *((key, esc(value)) for key, value in load_rows(summary)),
    ]
    body = "\n".join(f"<tr><th>{esc(key)}</th><td>{value}</td></tr>" for key, value in rows)
    return f'<table class="kv">\n{body}\n</table>'


def _slas(slas: Sequence[dict[str, Any]]) -> str:
    if not slas:
        return '<p class="note">The scenario sets no SLAs, so the run passes on its own status.</p>'
    rows = []
    for sla in slas:
        unit = str(sla.get("unit") or "")
        threshold = format_threshold(sla)
        result = "pass" if sla.get("passed") else "fail"
        rows.append(
            f'<tr><td>{esc(sla.get("name"))}</td><td class="num">{esc(format_value(sla.get("measured"), unit))}</td>'
            f'<td class="num">{esc(threshold)}</td><td class="result-{result}">{result.upper()}</td>'
            f"<td>{esc(sla.get('detail') or '')}</td></tr>"
        )
    return html_table(["SLA", "measured", "threshold", "result", "detail"], rows)


def _charts(charts: Sequence[EmbeddedChart]) -> str:
    if not charts:
        return '<p class="note">No charts were drawn (no data to draw them from).</p>'
    return _figures(charts)


def _figures(charts: Sequence[EmbeddedChart]) -> str:
    figures = []
    for chart in charts:
        size = chart.size_px
        dimensions = f' width="{size[0]}" height="{size[1]}"' if size else ""
        caption = CHART_CAPTIONS.get(chart.name, "")
        figures.append(
            f'<figure id="chart-{esc(chart.name)}">\n'
            f'<img src="{chart.data_uri()}" alt="{esc(chart.title)}"{dimensions}>\n'
            f"<figcaption><strong>{esc(chart.title)}.</strong> {esc(caption)}</figcaption>\n</figure>"
        )
    return "\n".join(figures)


def _final_metrics(summary: dict[str, Any]) -> str:
    note = final_metrics_note(summary)
    return f'\n<p class="note">{esc(note)}</p>' if note else ""


def _requests(summary: dict[str, Any]) -> str:
    locust_info = summary.get("locust") or {}
    locust = locust_info.get("by_name") or {}
    groups: list[tuple[str, dict[str, Any], dict[str, Any] | None, bool]] = [
        (str(name), group, locust.get(name), False) for name, group in summary["by_name"].items()
    ]
    groups.append((_ALL, summary["requests"], locust.get(AGGREGATED), True))
    header = ["name", "requests", "ok", "error", "timeout", "dropped", "p50", "p95", "p99", "max"]
    if locust:
        header += ["Locust count", "Locust p50", "Locust p95", "Locust p99"]
    rows = []
    for name, group, theirs, total in groups:
        outcomes = group["by_outcome"]
        latency = group["latency_s"]
        cells = [f"<td>{esc(name)}</td>", num_cell(group["total"])]
        cells += [num_cell(outcomes.get(outcome, 0)) for outcome in ("ok", "error", "timeout", "dropped")]
        cells += [num_cell(fmt_seconds(latency.get(key))) for key in ("p50", "p95", "p99", "max")]
        if locust:
            cells.append(num_cell(theirs["request_count"] if theirs else "—"))
            cells += [
                num_cell(fmt_seconds(theirs.get(key)) if theirs else "—")
                for key in ("p50_s", "p95_s", "p99_s")
            ]
        row_class = ' class="total"' if total else ""
        rows.append(f"<tr{row_class}>{''.join(cells)}</tr>")
    note = "Our latencies are exact nearest-rank percentiles over requests that were not dropped."
    if locust:
        note += (
            f" Locust's columns are its own figures from locust/{locust_info.get('file')}, bucketed by"
            " Locust (whole ms, two significant digits above 100 ms) and counting every request it saw."
        )
    else:
        note += " Locust's own statistics file was not found, so there is nothing to compare with."
    return html_table(header, rows) + f'\n<p class="note">{esc(note)}</p>' + _corrected(summary)


def _corrected(summary: dict[str, Any]) -> str:
    """Raw against corrected-for-coordinated-omission latency (as report.md has it)."""
    found = corrected_latency(summary)
    if found is None:
        return ""
    rows, note = found
    cells = [f"<tr><td>{key}</td>{num_cell(raw)}{num_cell(corrected)}</tr>" for key, raw, corrected in rows]
    return (
        "\n<h3>Latency corrected for coordinated omission</h3>\n"
        f'<p class="note">{esc(note)}</p>\n' + html_table(["", "raw", "corrected"], cells)
    )


def _calls(calls: dict[str, Any]) -> str:
    if not calls["by_server_tool_outcome"]:
        return '<p class="note">No tool calls were recorded.</p>'
    rows = [
        f"<tr><td>{esc(row['server'])}</td><td>{esc(row['tool'])}</td><td>{esc(row['outcome'])}</td>"
        f"{num_cell(row['count'])}{num_cell(fmt_seconds(row.get('p50_s')))}{num_cell(fmt_seconds(row.get('p95_s')))}"
        f"{num_cell(fmt_seconds(row.get('max_s')))}</tr>"
        for row in calls["by_server_tool_outcome"]
    ]
    header = ["server", "tool", "outcome", "calls", "p50", "p95", "max"]
    return f'<p class="note">{esc(calls["total"])} attempts.</p>\n' + html_table(header, rows)


def _breaker(breaker: dict[str, Any]) -> str:
    if breaker["transitions"]:
        rows = [
            f"<tr>{num_cell(fmt_relative(row.get('t_rel_s')))}<td>{esc(row.get('server'))}</td>"
            f"<td>{esc(row.get('from_state'))}</td><td>{esc(row.get('to_state'))}</td>"
            f"<td>{esc(row.get('reason') or '')}</td></tr>"
            for row in breaker["transitions"]
        ]
        text = html_table(["t (from load start)", "server", "from", "to", "reason"], rows)
    else:
        text = '<p class="note">No breaker changed state.</p>'
    final = ", ".join(f"{esc(server)}: {esc(state)}" for server, state in breaker["final_state"].items())
    return text + (f"\n<p>Final state: {final}.</p>" if final else "")


def _breaker_checks(checks: Sequence[dict[str, Any]], recovery: Sequence[dict[str, Any]]) -> str:
    if not checks and not recovery:
        return ""
    if checks:
        rows = [
            f"<tr><td>{esc(check.get('server'))}</td><td><code>{esc(check.get('name'))}</code></td>"
            f'<td class="result-{"pass" if check.get("passed") else "fail"}">'
            f"{'PASS' if check.get('passed') else 'FAIL'}</td><td>{esc(check.get('detail'))}</td></tr>"
            for check in checks
        ]
        text = html_table(["server", "check", "result", "detail"], rows) + (
            '\n<p class="note">Each server\'s calls and transitions replayed against its configured'
            " breaker (times matched within 50 ms).</p>"
        )
    else:
        text = '<p class="note">No breaker activity to check.</p>'
    violations = [
        f"<li>{esc(check.get('server'))} <code>{esc(check.get('name'))}</code> at "
        f"{esc(fmt_relative(violation.get('t_rel_s')))}: {esc(violation.get('message'))}</li>"
        for check in checks
        for violation in check.get("violations") or []
    ]
    if violations:
        text += "\n<p>Violations:</p>\n<ul>\n" + "\n".join(violations[:50]) + "\n</ul>"
    if recovery:
        rows = [
            f"<tr><td>{esc(window.get('target'))}</td><td>{esc(window.get('kind'))}</td>"
            f"{num_cell(fmt_relative(window.get('t_start_rel_s')))}{num_cell(fmt_relative(window.get('t_end_rel_s')))}"
            f"{num_cell(fmt_seconds(window.get('time_to_open_s')))}{num_cell(fmt_seconds(window.get('time_to_close_s')))}"
            f"<td>{esc(window.get('detail') or '')}</td></tr>"
            for window in recovery
        ]
        header = ["target", "fault", "from", "to", "time to open", "time to close", "detail"]
        text += "\n<h3>Fault windows and the breaker</h3>\n" + html_table(header, rows)
    return text


def _faults(faults: Sequence[dict[str, Any]]) -> str:
    if not faults:
        return ""
    rows = [
        f"<tr>{num_cell(fmt_relative(row.get('t_start_rel_s')))}{num_cell(fmt_relative(row.get('t_end_rel_s')))}"
        f"<td>{esc(row.get('target'))}</td><td>{esc(row.get('kind'))}</td><td>{html_code(row.get('params'))}</td></tr>"
        for row in faults
    ]
    return html_table(["from", "to", "target", "kind", "params"], rows)


def _processes(samples: Mapping[str, Any]) -> str:
    if not samples:
        return '<p class="note">No resource samples were recorded.</p>'
    rows = [
        f"<tr><td>{esc(process)}</td>{num_cell(figures.get('count'))}"
        f"{num_cell(fmt_cpu(figures.get('cpu_percent_mean')))}{num_cell(fmt_mib(figures.get('rss_bytes_max')))}</tr>"
        for process, figures in samples.items()
    ]
    return html_table(["process", "samples", "CPU % (mean)", "RSS (max)"], rows)


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    items = "\n".join(f"<li>{esc(warning)}</li>" for warning in warnings)
    return f'<ul class="warnings">\n{items}\n</ul>'


def _budget(budget: dict[str, Any] | None) -> str:
    if not budget:
        return "n/a (no error-rate SLA)"
    consumed = budget.get("consumed")
    spent = f"{consumed * 100:.3g}% used" if consumed is not None else "n/a"
    return (
        f"{spent} of {format_value(budget.get('allowed_error_rate'), 'ratio')} allowed ({budget.get('sla')})"
    )

"""Text helpers shared by the Markdown and HTML reports: number formats, escaping and tables.

Both reports are rendered from ``summary.json`` (:mod:`reports.markdown`,
:mod:`reports.html` and their load sections in :mod:`reports.report_load`); the
formats here keep the two saying every figure the same way.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from reports.sla import format_value

__all__ = [
    "corrected_latency",
    "dropped",
    "esc",
    "fmt_cpu",
    "fmt_mib",
    "fmt_ratio",
    "fmt_relative",
    "fmt_seconds",
    "html_code",
    "html_table",
    "load_duration",
    "md_table",
    "md_text",
    "num_cell",
]


def fmt_seconds(value: float | None) -> str:
    return format_value(value, "s")


def fmt_ratio(value: float | None) -> str:
    return format_value(value, "ratio")


def fmt_relative(value: float | None) -> str:
    """A time relative to the load start: ``+12.500 s``."""
    return "n/a" if value is None else f"{value:+.3f} s"


def fmt_cpu(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}"


def fmt_mib(value: int | None) -> str:
    return "n/a" if value is None else f"{value / (1024 * 1024):.1f} MiB"


def md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells must already be safe (:func:`md_text`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def md_text(value: object) -> str:
    """Make any value safe inside a Markdown table cell (one line, no bare pipes)."""
    if value is None:
        return "—"
    return " ".join(str(value).split()).replace("|", "\\|")


def esc(value: object) -> str:
    """Escape any value for HTML text or a quoted attribute; None shows as a dash."""
    return "—" if value is None else html.escape(str(value), quote=True)


def html_table(header: Sequence[str], rows: Iterable[str]) -> str:
    """An HTML table from a header and already rendered ``<tr>`` rows."""
    head = "".join(f"<th>{esc(name)}</th>" for name in header)
    body = "\n".join(rows)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def html_code(value: object) -> str:
    return f"<code>{esc(value)}</code>" if value else ""


def num_cell(value: object) -> str:
    """A right-aligned numeric table cell."""
    return f'<td class="num">{esc(value)}</td>'


def load_duration(summary: Mapping[str, Any]) -> str:
    """The load's length, and what the figures cover when a warm-up was left out."""
    requests = summary.get("requests") or {}
    total = requests.get("load_duration_s", requests.get("duration_s"))
    text = fmt_seconds(total)
    if (summary.get("warmup") or {}).get("warmup_s"):
        text += f" ({fmt_seconds(requests.get('duration_s'))} measured after the warm-up)"
    return text


def dropped(requests: Mapping[str, Any]) -> str:
    """`` — dropped: not_started 3, cut_short 1`` when the run recorded why requests were dropped."""
    reasons = requests.get("dropped_by_reason") or {}
    if not reasons:
        return ""
    return " — dropped: " + ", ".join(f"{reason} {count}" for reason, count in reasons.items())


def corrected_latency(summary: Mapping[str, Any]) -> tuple[list[tuple[str, str, str]], str] | None:
    """Raw against corrected-for-coordinated-omission latency: ``(figure, raw, corrected)``
    rows for p50, p95, p99 and max, and a note saying how it was corrected; ``None`` when
    the run has no corrected latency (or no latency at all)."""
    raw = summary["requests"].get("latency_s") or {}
    corrected = summary["requests"].get("latency_corrected_s")
    how = (summary.get("percentiles") or {}).get("coordinated_omission") or {}
    if not corrected or not raw.get("count"):
        return None
    rows = [
        (key, fmt_seconds(raw.get(key)), fmt_seconds(corrected.get(key)))
        for key in ("p50", "p95", "p99", "max")
    ]
    added = how.get("synthetic_count") or 0
    note = f"{how.get('model') or 'unknown'} model, {how.get('method') or 'no correction'}"
    note += f" ({added} values added)." if added else "."
    if not how.get("exact", True):
        note += " Corrected figures are from the HDR histogram (3 significant digits)."
    return rows, note

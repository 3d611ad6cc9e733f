"""The load sections of report.md and report.html: why the verdict failed, the load in a few lines,
the capacity search, and the load generator with the sessions it held.

Rendered from ``summary.json`` only, like the rest of both reports. Each piece is
built once as plain text (or rows of plain text) and then written as Markdown or
as escaped HTML, so the two reports say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.report_text import (
    esc,
    fmt_ratio,
    fmt_relative,
    fmt_seconds,
    html_table,
    md_table,
    md_text,
    num_cell,
)

__all__ = [
    "CAPACITY_CAPTION",
    "capacity_rows",
    "html_capacity",
    "html_load",
    "html_reasons",
    "load_rows",
    "md_capacity",
    "md_load",
    "md_reasons",
]

CAPACITY_CAPTION = (
    "p95 latency (left axis) and completed requests per second (right axis) of each step, "
    "measured after the step's settle time; the capacity, the first step that broke and the knee are marked."
)
_STEP_HEADER = [
    "users",
    "from",
    "to",
    "requests",
    "req/s",
    "p50",
    "p95",
    "p99",
    "error rate",
    "held",
    "failed SLAs",
]
_GENERATOR_HEADER = ["process", "samples", "at >= 90% CPU", "share", "max CPU %", "p90 CPU %", "saturated"]


def load_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Plain-text rows for the report's "What happened" table: warm-up, generator, sessions, arrivals, capacity."""
    rows: list[tuple[str, str]] = []
    warmup = summary.get("warmup") or {}
    if warmup.get("warmup_s"):
        outcomes = ", ".join(f"{k} {v}" for k, v in (warmup.get("by_outcome") or {}).items())
        rows.append(
            (
                "Warm-up",
                f"first {warmup['warmup_s']:g} s left out of the SLAs and figures: "
                f"{warmup.get('requests_excluded', 0)} request(s)" + (f" ({outcomes})" if outcomes else ""),
            )
        )
    generator = summary.get("load_generator") or {}
    if generator:
        rows.append(("Load generator", _generator_line(summary, generator)))
    sessions = summary.get("sessions") or {}
    if sessions.get("min_after_ramp_up") is not None:
        rows.append(
            (
                "Sessions held",
                f"min {sessions['min_after_ramp_up']:.0f}, max {sessions['max_after_ramp_up']:.0f} after the "
                f"ramp-up (from {sessions['window_start_s']:.1f} s; {sessions.get('ramp_end_source')})",
            )
        )
    open_model = summary.get("open_model")
    if open_model:
        rows.append(("Arrivals", _arrivals_line(open_model)))
    capacity = summary.get("capacity")
    if capacity:
        rows.append(("Capacity", str(capacity.get("detail") or "")))
    return rows


def capacity_rows(capacity: Mapping[str, Any]) -> list[list[str]]:
    """One plain-text row per step of the search (columns as :data:`_STEP_HEADER`)."""
    rows = []
    for step in capacity.get("steps") or []:
        if not step.get("played"):
            rows.append([str(step["users"]), "—", "—", "—", "—", "—", "—", "—", "—", "not played", ""])
            continue
        held = "yes" if step.get("held") else "NO"
        if step.get("generator_saturated"):
            held += " (generator saturated)"
        rps = step.get("rps")
        rows.append(
            [
                str(step["users"]),
                fmt_relative(step.get("t_start_rel_s")),
                fmt_relative(step.get("t_end_rel_s")),
                str(step.get("requests", 0)),
                f"{rps:.1f}" if rps is not None else "n/a",
                fmt_seconds(step.get("p50_s")),
                fmt_seconds(step.get("p95_s")),
                fmt_seconds(step.get("p99_s")),
                fmt_ratio(step.get("error_rate")),
                held,
                ", ".join(step.get("failed_slas") or []),
            ]
        )
    return rows


def md_reasons(summary: Mapping[str, Any]) -> str:
    """The reasons the verdict is not PASS, first thing in report.md (empty on PASS)."""
    reasons = summary.get("verdict_reasons") or []
    if not reasons:
        return ""
    verdict = str(summary.get("verdict") or "").upper()
    return f"**Why {verdict}:**\n\n" + "\n".join(f"- {md_text(reason)}" for reason in reasons)


def md_capacity(summary: Mapping[str, Any], chart: str | None) -> str:
    """The "Capacity" section of report.md (empty without a capacity search)."""
    capacity = summary.get("capacity")
    if not capacity:
        return ""
    text = f"## Capacity\n\n{md_text(capacity.get('detail'))}.\n\n"
    text += md_table(_STEP_HEADER, [[md_text(cell) for cell in row] for row in capacity_rows(capacity)])
    if chart:
        text += f"\n\n![Capacity]({chart})\n\n{CAPACITY_CAPTION}"
    return text + f"\n\n{md_text(_capacity_note(capacity))}"


def md_load(summary: Mapping[str, Any]) -> str:
    """The "Load generator and sessions" section of report.md."""
    generator = summary.get("load_generator") or {}
    if not generator:
        return ""
    text = "## Load generator and sessions\n\n" + md_text(_generator_line(summary, generator)) + "."
    processes = _generator_rows(generator)
    if processes:
        text += "\n\n" + md_table(_GENERATOR_HEADER, [[md_text(c) for c in row] for row in processes])
    text += "\n\n" + "\n".join(f"- {md_text(line)}" for line in _load_notes(summary, generator))
    return text


def html_reasons(summary: Mapping[str, Any]) -> str:
    """The reasons the verdict is not PASS, for the page's header (empty on PASS)."""
    reasons = summary.get("verdict_reasons") or []
    if not reasons:
        return ""
    items = "\n".join(f"<li>{esc(reason)}</li>" for reason in reasons)
    return f'<ul class="reasons">\n{items}\n</ul>'


def html_capacity(summary: Mapping[str, Any], figure: str) -> str:
    """The "Capacity" section's body (``figure``: the capacity chart's ``<figure>``, or "")."""
    capacity = summary.get("capacity")
    if not capacity:
        return ""
    rows = []
    for row in capacity_rows(capacity):
        cells = [num_cell(cell) for cell in row[:9]]
        held = "pass" if row[9].startswith("yes") else "fail" if row[9].startswith("NO") else "none"
        cells.append(f'<td class="result-{held}">{esc(row[9])}</td><td>{esc(row[10])}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f"<p><strong>{esc(capacity.get('detail'))}.</strong></p>\n"
        + html_table(_STEP_HEADER, rows)
        + (f"\n{figure}" if figure else "")
        + f'\n<p class="note">{esc(_capacity_note(capacity))}</p>'
    )


def html_load(summary: Mapping[str, Any]) -> str:
    """The "Load generator and sessions" section's body."""
    generator = summary.get("load_generator") or {}
    if not generator:
        return ""
    text = f"<p>{esc(_generator_line(summary, generator))}.</p>"
    processes = _generator_rows(generator)
    if processes:
        rows = [
            f"<tr><td>{esc(row[0])}</td>{''.join(num_cell(c) for c in row[1:6])}"
            f'<td class="result-{"fail" if row[6] == "YES" else "pass"}">{esc(row[6])}</td></tr>'
            for row in processes
        ]
        text += "\n" + html_table(_GENERATOR_HEADER, rows)
    notes = "\n".join(f"<li>{esc(line)}</li>" for line in _load_notes(summary, generator))
    return text + f"\n<ul>\n{notes}\n</ul>"


def _generator_line(summary: Mapping[str, Any], generator: Mapping[str, Any]) -> str:
    capacity = summary.get("capacity")
    if generator.get("saturated") is None:
        return f"not checked: {generator.get('detail')}"
    if not summary.get("trustworthy", True):
        return f"SATURATED, the run is untrustworthy: {generator.get('detail')}"
    if capacity and capacity.get("generator_saturated_at_users") is not None:
        return (
            f"saturated from {capacity['generator_saturated_at_users']} users, above the capacity found "
            "(the capacity is a lower bound)"
        )
    return f"kept up: {generator.get('detail')}"


def _generator_rows(generator: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            str(name),
            str(figures.get("samples")),
            str(figures.get("busy_samples")),
            f"{figures.get('busy_share', 0):.0%}",
            f"{figures.get('max_cpu_percent', 0):.1f}",
            f"{figures.get('p90_cpu_percent', 0):.1f}",
            "YES" if figures.get("saturated") else "no",
        ]
        for name, figures in (generator.get("processes") or {}).items()
    ]


def _load_notes(summary: Mapping[str, Any], generator: Mapping[str, Any]) -> list[str]:
    notes = [f"Rule: {generator.get('rule')} makes the run untrustworthy (verdict FAIL)."]
    host = generator.get("host")
    if host:
        notes.append(
            f"Host: {host['cpu_count']} core(s); total CPU median {host['p50_percent']:.0f}%, max "
            f"{host['max_percent']:.0f}%, at >= 95% in {host['busy_seconds']} of {host['seconds']} s"
            + (" — the machine was busy (see the warnings)" if host.get("busy") else "")
            + "."
        )
    sessions = summary.get("sessions") or {}
    notes.append(f"Sessions: {sessions.get('detail') or 'not computed'}.")
    open_model = summary.get("open_model")
    if open_model:
        notes.append(f"Open model: {_arrivals_line(open_model)}.")
    return notes


def _arrivals_line(open_model: Mapping[str, Any]) -> str:
    ratio = open_model.get("not_started_ratio")
    rate = open_model.get("arrival_rate_per_s")
    planned = open_model.get("planned_arrival_rate_per_s")
    text = (
        f"{open_model.get('arrivals')} arrivals after the warm-up, {open_model.get('not_started')} could not "
        f"start (all {open_model.get('max_sessions')} sessions busy): {fmt_ratio(ratio)}"
    )
    if rate is not None:
        text += f"; {rate:.2f} arrivals/s" + (f" (planned {planned:g}/s)" if planned is not None else "")
    if not open_model.get("drop_reason_recorded"):
        text += "; this run has no drop_reason column, so no drop could be told apart"
    return text


def _capacity_note(capacity: Mapping[str, Any]) -> str:
    return (
        "Each step is measured from its settle time to its end; a step holds when every latency, "
        "error_rate and availability SLA passes on its requests. The capacity is the last step before the "
        f"first that broke. Knee: {capacity.get('knee_definition')}."
    )

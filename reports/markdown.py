"""The human-readable report (``report/report.md``), rendered from the summary document.

It is built only from ``summary.json``'s content (:mod:`reports.summary`), so the
report can never say something the machine-readable verdict does not. Times are
seconds relative to the load start (``t0`` in the summary).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reports.final_metrics import final_metrics_note
from reports.locust_csv import AGGREGATED
from reports.report_load import load_rows, md_capacity, md_load, md_reasons
from reports.report_text import (
    corrected_latency,
    dropped,
    fmt_mib,
    fmt_ratio,
    fmt_relative,
    fmt_seconds,
    load_duration,
    md_table,
    md_text,
)
from reports.session_types import md_session_types
from reports.sla import format_threshold, format_value

__all__ = ["render_markdown"]

_ALL = "(all)"


def render_markdown(summary: dict[str, Any], charts: Sequence[tuple[str, str]] = ()) -> str:
    """Render the report for a summary built by :func:`reports.summary.build_summary`.

    ``charts`` are the (file name, title) of the charts drawn beside it, linked in a
    "Charts" section (the capacity chart in the "Capacity" section); the reasons the
    verdict is not PASS come first, right under the title.
    """
    verdict = str(summary["verdict"]).upper()
    capacity_chart = next((name for name, _ in charts if name == "capacity.png"), None)
    others = [(name, title) for name, title in charts if name != "capacity.png"]
    sections = [
        f"# chaosbench: {md_text(summary.get('scenario') or 'unnamed scenario')} — {verdict}",
        md_reasons(summary),
        _what_happened(summary),
        _slas(summary["slas"]),
        md_capacity(summary, capacity_chart),
        md_load(summary),
        _charts(others),
        _requests(summary),
        md_session_types(summary),
        _calls(summary["calls"]) + _final_metrics(summary),
        _breaker(summary["breaker"]),
        _breaker_checks(summary.get("breaker_checks") or [], summary.get("breaker_recovery") or []),
        _faults(summary.get("faults") or []),
        _processes(summary["samples"]),
        _warnings(summary["warnings"]),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _what_happened(summary: dict[str, Any]) -> str:
    requests = summary["requests"]
    outcomes = ", ".join(f"{md_text(k)} {v}" for k, v in requests["by_outcome"].items())
    throughput = requests.get("throughput_rps")
    rows = [
        ("Verdict", f"**{str(summary['verdict']).upper()}** (exit code {summary['exit_code']})"),
        ("Run status", md_text(summary["status"])),
        ("Reason", md_text(summary.get("reason") or "—")),
        ("Run id", f"`{md_text(summary['run_id'])}`"),
        ("Load duration", md_text(load_duration(summary))),
        (
            "Requests",
            f"{requests['total']}" + (f" ({outcomes})" if outcomes else "") + md_text(dropped(requests)),
        ),
        ("Throughput", f"{throughput:.1f} req/s (completed requests)" if throughput is not None else "n/a"),
        ("Error rate", fmt_ratio(requests.get("error_rate"))),
        ("Availability", fmt_ratio(summary.get("availability"))),
        ("Error budget", _budget(summary.get("error_budget"))),
        *((key, md_text(value)) for key, value in load_rows(summary)),
    ]
    return "## What happened\n\n" + md_table(["", ""], rows)


def _charts(charts: Sequence[tuple[str, str]]) -> str:
    if not charts:
        return ""
    return "## Charts\n\n" + "\n\n".join(f"![{md_text(title)}]({name})" for name, title in charts)


def _slas(slas: Sequence[dict[str, Any]]) -> str:
    if not slas:
        return "## SLAs\n\nThe scenario sets no SLAs, so the run passes on its own status."
    rows = []
    for sla in slas:
        unit = str(sla.get("unit") or "")
        rows.append(
            (
                md_text(sla["name"]),
                format_value(sla.get("measured"), unit),
                format_threshold(sla),
                "PASS" if sla["passed"] else "**FAIL**",
                md_text(sla.get("detail") or ""),
            )
        )
    return "## SLAs\n\n" + md_table(["SLA", "measured", "threshold", "result", "detail"], rows)


def _requests(summary: dict[str, Any]) -> str:
    locust = (summary.get("locust") or {}).get("by_name") or {}
    groups: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = [
        (str(name), group, locust.get(name)) for name, group in summary["by_name"].items()
    ]
    groups.append((_ALL, summary["requests"], locust.get(AGGREGATED)))
    header = ["name", "requests", "ok", "error", "timeout", "dropped", "p50", "p95", "p99", "max"]
    if locust:
        header += ["Locust count", "Locust p50", "Locust p95", "Locust p99"]
    rows = []
    for name, group, theirs in groups:
        outcomes = group["by_outcome"]
        latency = group["latency_s"]
        row = [
            md_text(name),
            str(group["total"]),
            *(str(outcomes.get(outcome, 0)) for outcome in ("ok", "error", "timeout", "dropped")),
            *(fmt_seconds(latency.get(key)) for key in ("p50", "p95", "p99", "max")),
        ]
        if locust:
            row += [str(theirs["request_count"]) if theirs else "—"]
            row += [fmt_seconds(theirs.get(key)) if theirs else "—" for key in ("p50_s", "p95_s", "p99_s")]
        rows.append(row)
    text = "## Requests by name\n\n" + md_table(header, rows)
    text += "\n\nOur latencies are exact nearest-rank percentiles over requests that were not dropped."
    if locust:
        text += (
            " Locust's columns are its own figures from"
            f" `locust/{md_text(summary['locust']['file'])}`, bucketed by Locust"
            " (whole ms, two significant digits above 100 ms) and counting every request it saw."
        )
    else:
        text += " Locust's own statistics file was not found, so there is nothing to compare with."
    return text + _corrected(summary)


def _corrected(summary: dict[str, Any]) -> str:
    """Raw against corrected-for-coordinated-omission latency, one line per figure."""
    found = corrected_latency(summary)
    if found is None:
        return ""
    rows, note = found
    lines = [f"- {key}: raw {raw}, corrected {corrected}" for key, raw, corrected in rows]
    return f"\n\n### Latency corrected for coordinated omission\n\n{md_text(note)}\n\n" + "\n".join(lines)


def _calls(calls: dict[str, Any]) -> str:
    if not calls["by_server_tool_outcome"]:
        return "## Tool calls\n\nNo tool calls were recorded."
    rows = [
        (
            md_text(row["server"]),
            md_text(row["tool"]),
            md_text(row["outcome"]),
            str(row["count"]),
            fmt_seconds(row.get("p50_s")),
            fmt_seconds(row.get("p95_s")),
            fmt_seconds(row.get("max_s")),
        )
        for row in calls["by_server_tool_outcome"]
    ]
    header = ["server", "tool", "outcome", "calls", "p50", "p95", "max"]
    return f"## Tool calls ({calls['total']} attempts)\n\n" + md_table(header, rows)


def _final_metrics(summary: dict[str, Any]) -> str:
    note = final_metrics_note(summary)
    return f"\n\n{md_text(note)}" if note else ""


def _breaker(breaker: dict[str, Any]) -> str:
    final = ", ".join(
        f"{md_text(server)}: {md_text(state)}" for server, state in breaker["final_state"].items()
    )
    text = "## Circuit breakers\n\n"
    if breaker["transitions"]:
        rows = [
            (
                fmt_relative(row.get("t_rel_s")),
                md_text(row["server"]),
                md_text(row["from_state"]),
                md_text(row["to_state"]),
                md_text(row.get("reason") or ""),
            )
            for row in breaker["transitions"]
        ]
        text += md_table(["t (from load start)", "server", "from", "to", "reason"], rows)
    else:
        text += "No breaker changed state."
    return text + (f"\n\nFinal state: {final}." if final else "")


def _breaker_checks(checks: Sequence[dict[str, Any]], recovery: Sequence[dict[str, Any]]) -> str:
    if not checks and not recovery:
        return ""
    text = "## Breaker checks\n\n"
    if checks:
        rows = [
            (
                md_text(c["server"]),
                f"`{md_text(c['name'])}`",
                "PASS" if c["passed"] else "**FAIL**",
                md_text(c.get("detail")),
            )
            for c in checks
        ]
        text += md_table(["server", "check", "result", "detail"], rows)
        text += (
            "\n\nEach server's calls and transitions replayed against its configured breaker"
            " (times matched within 50 ms)."
        )
    else:
        text += "No breaker activity to check."
    violations = [
        f"- {md_text(c['server'])} `{md_text(c['name'])}` at {fmt_relative(v.get('t_rel_s'))}: {md_text(v['message'])}"
        for c in checks
        for v in c.get("violations") or []
    ]
    if violations:
        text += "\n\nViolations:\n\n" + "\n".join(violations[:50])
    if recovery:
        windows = [
            (
                md_text(w["target"]),
                md_text(w["kind"]),
                fmt_relative(w.get("t_start_rel_s")),
                fmt_relative(w.get("t_end_rel_s")),
                fmt_seconds(w.get("time_to_open_s")),
                fmt_seconds(w.get("time_to_close_s")),
                md_text(w.get("detail") or ""),
            )
            for w in recovery
        ]
        header = ["target", "fault", "from", "to", "time to open", "time to close", "detail"]
        text += "\n\n### Fault windows and the breaker\n\n" + md_table(header, windows)
    return text


def _budget(budget: dict[str, Any] | None) -> str:
    if not budget:
        return "n/a (no error-rate SLA)"
    consumed = budget.get("consumed")
    spent = f"{consumed * 100:.3g}% used" if consumed is not None else "n/a"
    return f"{spent} of {fmt_ratio(budget.get('allowed_error_rate'))} allowed ({md_text(budget.get('sla'))})"


def _faults(faults: Sequence[dict[str, Any]]) -> str:
    if not faults:
        return ""
    rows = [
        (
            fmt_relative(row.get("t_start_rel_s")),
            fmt_relative(row.get("t_end_rel_s")),
            md_text(row["target"]),
            md_text(row["kind"]),
            f"`{md_text(row['params'])}`" if row.get("params") else "",
        )
        for row in faults
    ]
    return "## Faults applied\n\n" + md_table(["from", "to", "target", "kind", "params"], rows)


def _processes(samples: dict[str, Any]) -> str:
    if not samples:
        return "## Processes\n\nNo resource samples were recorded."
    rows = [
        (
            md_text(process),
            str(figures["count"]),
            f"{figures['cpu_percent_mean']:.1f}" if figures["cpu_percent_mean"] is not None else "n/a",
            fmt_mib(figures["rss_bytes_max"]),
        )
        for process, figures in samples.items()
    ]
    return "## Processes\n\n" + md_table(["process", "samples", "CPU % (mean)", "RSS (max)"], rows)


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return "## Warnings\n\n" + "\n".join(f"- {md_text(warning)}" for warning in warnings)

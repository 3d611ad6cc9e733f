"""The human-readable report (``report/report.md``), rendered from the summary document.

It is built only from ``summary.json``'s content (:mod:`reports.summary`), so the
report can never say something the machine-readable verdict does not. Times are
seconds relative to the load start (``t0`` in the summary).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from reports.locust_csv import AGGREGATED
from reports.sla import format_value

__all__ = ["render_markdown"]

_ALL = "(all)"


def render_markdown(summary: dict[str, Any]) -> str:
    """Render the report for a summary built by :func:`reports.summary.build_summary`."""
    verdict = str(summary["verdict"]).upper()
    sections = [
        f"# chaosbench: {_text(summary.get('scenario') or 'unnamed scenario')} — {verdict}",
        _what_happened(summary),
        _slas(summary["slas"]),
        _requests(summary),
        _calls(summary["calls"]),
        _breaker(summary["breaker"]),
        _breaker_checks(summary.get("breaker_checks") or [], summary.get("breaker_recovery") or []),
        _faults(summary.get("faults") or []),
        _processes(summary["samples"]),
        _warnings(summary["warnings"]),
    ]
    return "\n\n".join(section for section in sections if section) + "\n"


def _what_happened(summary: dict[str, Any]) -> str:
    requests = summary["requests"]
    outcomes = ", ".join(f"{_text(k)} {v}" for k, v in requests["by_outcome"].items())
    throughput = requests.get("throughput_rps")
    rows = [
        ("Verdict", f"**{str(summary['verdict']).upper()}** (exit code {summary['exit_code']})"),
        ("Run status", _text(summary["status"])),
        ("Reason", _text(summary.get("reason") or "—")),
        ("Run id", f"`{_text(summary['run_id'])}`"),
        ("Load duration", _seconds(requests.get("duration_s"))),
        ("Requests", f"{requests['total']}" + (f" ({outcomes})" if outcomes else "")),
        ("Throughput", f"{throughput:.1f} req/s (completed requests)" if throughput is not None else "n/a"),
        ("Error rate", _ratio(requests.get("error_rate"))),
        ("Availability", _ratio(summary.get("availability"))),
        ("Error budget", _budget(summary.get("error_budget"))),
    ]
    return "## What happened\n\n" + _table(["", ""], rows)


def _slas(slas: Sequence[dict[str, Any]]) -> str:
    if not slas:
        return "## SLAs\n\nThe scenario sets no SLAs, so the run passes on its own status."
    rows = []
    for sla in slas:
        unit = str(sla.get("unit") or "")
        threshold = (
            f"<= {format_value(sla['threshold'], unit)}" if sla.get("threshold") is not None else "n/a"
        )
        rows.append(
            (
                _text(sla["name"]),
                format_value(sla.get("measured"), unit),
                threshold,
                "PASS" if sla["passed"] else "**FAIL**",
                _text(sla.get("detail") or ""),
            )
        )
    return "## SLAs\n\n" + _table(["SLA", "measured", "threshold", "result", "detail"], rows)


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
            _text(name),
            str(group["total"]),
            *(str(outcomes.get(outcome, 0)) for outcome in ("ok", "error", "timeout", "dropped")),
            *(_seconds(latency.get(key)) for key in ("p50", "p95", "p99", "max")),
        ]
        if locust:
            row += [str(theirs["request_count"]) if theirs else "—"]
            row += [_seconds(theirs.get(key)) if theirs else "—" for key in ("p50_s", "p95_s", "p99_s")]
        rows.append(row)
    text = "## Requests by name\n\n" + _table(header, rows)
    text += "\n\nOur latencies are exact nearest-rank percentiles over requests that were not dropped."
    if locust:
        text += (
            " Locust's columns are its own figures from"
            f" `locust/{_text(summary['locust']['file'])}`, bucketed by Locust"
            " (whole ms, two significant digits above 100 ms) and counting every request it saw."
        )
    else:
        text += " Locust's own statistics file was not found, so there is nothing to compare with."
    return text + _corrected(summary)


def _corrected(summary: dict[str, Any]) -> str:
    """Raw against corrected-for-coordinated-omission latency, one line per figure."""
    raw = summary["requests"].get("latency_s") or {}
    corrected = summary["requests"].get("latency_corrected_s")
    how = (summary.get("percentiles") or {}).get("coordinated_omission") or {}
    if not corrected or not raw.get("count"):
        return ""
    lines = [
        f"- {key}: raw {_seconds(raw.get(key))}, corrected {_seconds(corrected.get(key))}"
        for key in ("p50", "p95", "p99", "max")
    ]
    added = how.get("synthetic_count") or 0
    note = f" ({added} values added)" if added else ""
    approx = (
        ""
        if how.get("exact", True)
        else " Corrected figures are from the HDR histogram (3 significant digits)."
    )
    return (
        f"\n\n### Latency corrected for coordinated omission\n\n{_text(how.get('model') or 'unknown')} model, "
        f"{_text(how.get('method') or 'no correction')}{note}.{approx}\n\n" + "\n".join(lines)
    )


def _calls(calls: dict[str, Any]) -> str:
    if not calls["by_server_tool_outcome"]:
        return "## Tool calls\n\nNo tool calls were recorded."
    rows = [
        (
            _text(row["server"]),
            _text(row["tool"]),
            _text(row["outcome"]),
            str(row["count"]),
            _seconds(row.get("p50_s")),
            _seconds(row.get("p95_s")),
            _seconds(row.get("max_s")),
        )
        for row in calls["by_server_tool_outcome"]
    ]
    header = ["server", "tool", "outcome", "calls", "p50", "p95", "max"]
    return f"## Tool calls ({calls['total']} attempts)\n\n" + _table(header, rows)


def _breaker(breaker: dict[str, Any]) -> str:
    final = ", ".join(f"{_text(server)}: {_text(state)}" for server, state in breaker["final_state"].items())
    text = "## Circuit breakers\n\n"
    if breaker["transitions"]:
        rows = [
            (
                _relative(row.get("t_rel_s")),
                _text(row["server"]),
                _text(row["from_state"]),
                _text(row["to_state"]),
                _text(row.get("reason") or ""),
            )
            for row in breaker["transitions"]
        ]
        text += _table(["t (from load start)", "server", "from", "to", "reason"], rows)
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
                _text(c["server"]),
                f"`{_text(c['name'])}`",
                "PASS" if c["passed"] else "**FAIL**",
                _text(c.get("detail")),
            )
            for c in checks
        ]
        text += _table(["server", "check", "result", "detail"], rows)
        text += (
            "\n\nEach server's calls and transitions replayed against its configured breaker"
            " (times matched within 50 ms)."
        )
    else:
        text += "No breaker activity to check."
    violations = [
        f"- {_text(c['server'])} `{_text(c['name'])}` at {_relative(v.get('t_rel_s'))}: {_text(v['message'])}"
        for c in checks
        for v in c.get("violations") or []
    ]
    if violations:
        text += "\n\nViolations:\n\n" + "\n".join(violations[:50])
    if recovery:
        windows = [
            (
                _text(w["target"]),
                _text(w["kind"]),
                _relative(w.get("t_start_rel_s")),
                _relative(w.get("t_end_rel_s")),
                _seconds(w.get("time_to_open_s")),
                _seconds(w.get("time_to_close_s")),
                _text(w.get("detail") or ""),
            )
            for w in recovery
        ]
        header = ["target", "fault", "from", "to", "time to open", "time to close", "detail"]
        text += "\n\n### Fault windows and the breaker\n\n" + _table(header, windows)
    return text


def _budget(budget: dict[str, Any] | None) -> str:
    if not budget:
        return "n/a (no error-rate SLA)"
    consumed = budget.get("consumed")
    spent = f"{consumed * 100:.3g}% used" if consumed is not None else "n/a"
    return f"{spent} of {_ratio(budget.get('allowed_error_rate'))} allowed ({_text(budget.get('sla'))})"


def _faults(faults: Sequence[dict[str, Any]]) -> str:
    if not faults:
        return ""
    rows = [
        (
            _relative(row.get("t_start_rel_s")),
            _relative(row.get("t_end_rel_s")),
            _text(row["target"]),
            _text(row["kind"]),
            f"`{_text(row['params'])}`" if row.get("params") else "",
        )
        for row in faults
    ]
    return "## Faults applied\n\n" + _table(["from", "to", "target", "kind", "params"], rows)


def _processes(samples: dict[str, Any]) -> str:
    if not samples:
        return "## Processes\n\nNo resource samples were recorded."
    rows = [
        (
            _text(process),
            str(figures["count"]),
            f"{figures['cpu_percent_mean']:.1f}" if figures["cpu_percent_mean"] is not None else "n/a",
            _bytes(figures["rss_bytes_max"]),
        )
        for process, figures in samples.items()
    ]
    return "## Processes\n\n" + _table(["process", "samples", "CPU % (mean)", "RSS (max)"], rows)


def _warnings(warnings: Sequence[str]) -> str:
    if not warnings:
        return ""
    return "## Warnings\n\n" + "\n".join(f"- {_text(warning)}" for warning in warnings)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _text(value: object) -> str:
    """Make any value safe inside a Markdown table cell (one line, no bare pipes)."""
    if value is None:
        return "—"
    return " ".join(str(value).split()).replace("|", "\\|")


def _seconds(value: float | None) -> str:
    return format_value(value, "s")


def _ratio(value: float | None) -> str:
    return format_value(value, "ratio")


def _relative(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f} s"


def _bytes(value: int | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / (1024 * 1024):.1f} MiB"

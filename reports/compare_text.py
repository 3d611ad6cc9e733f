"""The comparison as text: the terminal's aligned tables and ``compare.md``, from ``compare.json``'s document.

Both say the same things in the same order: warnings; the runs (scenario,
profile, status, verdict, trustworthy); per compared run, the call, what its
scenario changed, and one row per figure (baseline, run, change, % change,
better or worse, the bootstrap interval of the change, real or not); the SLAs
of every run side by side; the gates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_change", "format_value", "render_markdown", "render_terminal"]


def render_terminal(document: Mapping[str, Any], out_dir: str | None = None) -> str:
    """The readable table printed by ``chaosbench compare``."""
    return _render(document, markdown=False, out_dir=out_dir)


def render_markdown(document: Mapping[str, Any]) -> str:
    """``compare.md``."""
    return _render(document, markdown=True, out_dir=None)


def format_value(value: Any, unit: str | None) -> str:
    """A figure in its unit: ms for seconds, % for ratios, /s for rates."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if unit == "s":
        ms = value * 1000
        return f"{ms:.2f} ms" if abs(ms) < 10 else f"{ms:.1f} ms"
    if unit == "ratio":
        return f"{value * 100:.2f}%"
    if unit == "rps":
        return f"{value:.2f}/s" if abs(value) < 100 else f"{value:.1f}/s"
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_change(value: Any, unit: str | None) -> str:
    """A difference with its sign (ratios in percentage points)."""
    if value is None:
        return "n/a"
    sign = "+" if value > 0 else "-" if value < 0 else ""
    size = abs(value)
    if unit == "ratio":
        return f"{sign}{size * 100:.2f} pp"
    return sign + format_value(size, unit)


def _render(document: Mapping[str, Any], *, markdown: bool, out_dir: str | None) -> str:
    runs: Sequence[Mapping[str, Any]] = document["runs"]
    base = runs[0]
    lines: list[str] = []
    heading = (lambda text: ["", f"## {text}", ""]) if markdown else (lambda text: ["", text])
    title = f"chaosbench compare: {len(runs)} runs, baseline {base['label']} ({base['run_id']})"
    lines.append(f"# {title}" if markdown else title)
    if markdown and document["warnings"]:
        lines.append("")
    for warning in document["warnings"]:
        lines.append(f"- **warning:** {warning}" if markdown else f"warning: {warning}")
    lines += heading("Runs")
    lines += _table(
        ["", "run id", "scenario", "profile", "status", "verdict", "trustworthy"],
        [
            [
                run["label"],
                run["run_id"],
                str(run["scenario"]),
                run["profile"] or "-",
                str(run["status"]),
                str(run["verdict"]).upper(),
                "yes" if run["trustworthy"] else "NO (generator saturated)",
            ]
            for run in runs
        ],
        markdown,
    )
    confidence = document["bootstrap"]["confidence"] * 100
    for comparison, run in zip(document["comparisons"], runs[1:], strict=True):
        lines += heading(f"{comparison['label']} vs {base['label']}: {_call_text(comparison)}")
        if comparison["verdict_changed"]:
            lines.append(f"verdict changed: {str(base['verdict']).upper()} → {str(run['verdict']).upper()}")
        changed = comparison["config"]
        lines.append(
            "scenario changes: "
            + ("; ".join(f"{c['key']} {c['baseline']!r} → {c['value']!r}" for c in changed) or "none")
        )
        if markdown:
            lines.append("")
        rows = [
            [
                m["label"],
                format_value(m["baseline"], m["unit"]),
                format_value(m["value"], m["unit"]),
                format_change(m["diff"], m["unit"]),
                "n/a" if m["relative"] is None else f"{m['relative'] * 100:+.1f}%",
                _direction(m),
                _interval(m),
                "" if m["real"] is None else "yes" if m["real"] else "no",
            ]
            for m in comparison["metrics"]
            if m["baseline"] is not None or m["value"] is not None
        ]
        lines += _table(
            [
                "figure",
                base["label"],
                run["label"],
                "change",
                "%",
                "better?",
                f"{confidence:g}% interval",
                "real?",
            ],
            rows,
            markdown,
        )
    lines += heading("SLAs")
    sla_rows = [
        [row["name"], *(_sla_cell(result, row["unit"]) for result in row["results"])]
        for row in document["slas"]
    ]
    lines += (
        _table(["SLA", *(run["label"] for run in runs)], sla_rows, markdown) if sla_rows else ["none set"]
    )
    if document["gates"]:
        lines += heading("Gates (--fail-if-worse)")
        gate_rows = [
            [gate["spec"], result["run"], "PASS" if result["passed"] else "FAIL", result["detail"]]
            for gate in document["gates"]
            for result in gate["results"]
        ]
        lines += _table(["gate", "run", "result", "detail"], gate_rows, markdown)
    lines += ["", _footnote(document, markdown)]
    if out_dir is not None:
        lines += ["", f"compare: {out_dir}"]
    return "\n".join(lines) + "\n"


def _call_text(comparison: Mapping[str, Any]) -> str:
    verdict = str(comparison["call"]).upper()
    labels = {m["metric"]: m["label"] for m in comparison["metrics"]}
    better = ", ".join(labels[key] for key in comparison["better"]) or "none"
    worse = ", ".join(labels[key] for key in comparison["worse"]) or "none"
    if comparison["call"] == "untrustworthy":
        return f"{verdict} (a load generator was saturated; see the warnings)"
    return f"{verdict} (really better: {better}; really worse: {worse})"


def _direction(metric: Mapping[str, Any]) -> str:
    change = metric["change"]
    if change is None:
        return "" if metric["better"] is None else "n/a"
    return str(change)


def _interval(metric: Mapping[str, Any]) -> str:
    if metric["ci_low"] is None:
        return ""
    return f"[{format_change(metric['ci_low'], metric['unit'])}, {format_change(metric['ci_high'], metric['unit'])}]"


def _sla_cell(result: Mapping[str, Any] | None, unit: str | None) -> str:
    if result is None:
        return "-"
    mark = "PASS" if result["passed"] else "FAIL"
    return f"{mark} {format_value(result['measured'], unit)}"


def _footnote(document: Mapping[str, Any], markdown: bool) -> str:
    boot = document["bootstrap"]
    text = (
        "Figures are over each run's measured requests (after its warm-up), as in its report. "
        f"change = run − baseline; intervals: {boot['confidence'] * 100:g}% bootstrap of the change "
        f"({boot['resamples']} resamples, seed {boot['seed']}); real = the interval excludes 0. "
        "The call (better, worse, mixed) rests on the real changes only."
    )
    return f"_{text}_" if markdown else text


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> list[str]:
    if markdown:
        escape = [[cell.replace("|", "\\|") for cell in row] for row in [list(headers), *rows]]
        out = [f"| {' | '.join(escape[0])} |", "|" + "---|" * len(headers)]
        return out + [f"| {' | '.join(row)} |" for row in escape[1:]]
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: Sequence[str]) -> str:
        return (
            "  "
            + "  ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        )

    return [line(headers), "  " + "  ".join("-" * width for width in widths), *(line(row) for row in rows)]

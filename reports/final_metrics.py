"""The gateway's last ``/metrics`` (``metrics/final.prom``) against the ``calls`` table.

The orchestrator scrapes the gateway once more after the load, just before it stops it.
Its ``mcp_tool_calls_total{server, tool, outcome}`` counters count every tool-call
attempt the manager made, as the ``calls`` table does row by row, so the two must
agree exactly; a disagreement means lost events or lost counts, and is a warning of
the report (``summary.json`` ``final_metrics``: ``available``, ``agree``,
``tool_calls_metrics``, ``tool_calls_table``, ``mismatches`` [{server, tool, outcome,
metrics, table}]). Parsed with prometheus_client's own text parser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["FINAL_METRICS", "check_final_metrics", "final_metrics_note", "tool_call_counters"]

FINAL_METRICS = Path("metrics") / "final.prom"

Key = tuple[str, str, str]


def tool_call_counters(text: str) -> dict[Key, int]:
    """``mcp_tool_calls_total`` by (server, tool, outcome) from a Prometheus exposition.

    Raises ``ValueError`` when the text does not parse.
    """
    counters: dict[Key, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mcp_tool_calls_total":
                labels = sample.labels
                key = (labels.get("server", ""), labels.get("tool", ""), labels.get("outcome", ""))
                counters[key] = counters.get(key, 0) + int(sample.value)
    return counters


def check_final_metrics(run_dir: Path, calls: pd.DataFrame) -> dict[str, Any]:
    """The ``final_metrics`` block of ``summary.json`` (module docstring)."""
    path = run_dir / FINAL_METRICS
    if not path.is_file():
        return {"available": False, "agree": None, "detail": f"no {FINAL_METRICS} in the run directory"}
    try:
        counters = tool_call_counters(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        return {"available": False, "agree": None, "detail": f"{FINAL_METRICS} does not parse: {exc}"}
    table: dict[Key, int] = {}
    if not calls.empty:
        grouped = calls.groupby(["server", "tool", "outcome"], dropna=False).size()
        for index, count in grouped.items():
            parts = [str(part) for part in index]  # type: ignore[attr-defined]
            table[(parts[0], parts[1], parts[2])] = int(count)
    mismatches = [
        {
            "server": k[0],
            "tool": k[1],
            "outcome": k[2],
            "metrics": counters.get(k, 0),
            "table": table.get(k, 0),
        }
        for k in sorted(set(counters) | set(table))
        if counters.get(k, 0) != table.get(k, 0)
    ]
    total_metrics, total_table = sum(counters.values()), sum(table.values())
    detail = (
        f"mcp_tool_calls_total agrees with the calls table ({total_table} attempts)"
        if not mismatches
        else f"mcp_tool_calls_total ({total_metrics}) and the calls table ({total_table}) disagree "
        f"on {len(mismatches)} (server, tool, outcome) group(s)"
    )
    return {
        "available": True,
        "agree": not mismatches,
        "tool_calls_metrics": total_metrics,
        "tool_calls_table": total_table,
        "mismatches": mismatches,
        "detail": detail,
    }


def final_metrics_note(summary: dict[str, Any]) -> str:
    """One sentence for the reports' "Tool calls" section ("" when the summary has no such block)."""
    block = summary.get("final_metrics")
    if not isinstance(block, dict):
        return ""
    lines = [f"Final /metrics ({FINAL_METRICS}): {block.get('detail')}."]
    for m in (block.get("mismatches") or [])[:10]:
        lines.append(
            f"{m['server']}.{m['tool']} {m['outcome']}: {m['metrics']} in /metrics, {m['table']} in calls"
        )
    return " ".join(lines)

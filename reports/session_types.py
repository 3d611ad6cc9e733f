"""Requests by session type: who was served, who was refused (401/403), how fast.

One row per session type of the measured requests (the warm-up left out), in the
order the types first appear in the scenario's ``load.sessions`` and then by name:

``session_type``, ``role``, ``token`` (from the scenario; ``valid`` or a forgery kind),
``requests`` (every row, dropped included), ``rps`` (answered requests per second of
the measured window), ``p95_s`` (nearest rank over answered requests), ``errors``
(``error`` + ``timeout``), ``status_401``, ``status_403`` (answered requests with that
HTTP status). A run directory without a ``session_type`` column gives no rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from reports.percentiles import percentile
from reports.report_text import esc, fmt_seconds, html_table, md_table, md_text, num_cell

__all__ = ["by_session_type", "html_session_types", "md_session_types"]

_ANSWERED = ("ok", "error", "timeout")


def _declared(scenario: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    load = scenario.get("load")
    sessions = load.get("sessions") if isinstance(load, Mapping) else None
    declared: dict[str, dict[str, str]] = {}
    for entry in sessions if isinstance(sessions, list) else []:
        if isinstance(entry, Mapping):
            declared[str(entry.get("name", "default"))] = {
                "role": str(entry.get("role", "user")),
                "token": str(entry.get("token", "valid")),
            }
    return declared


def by_session_type(
    measured: pd.DataFrame, duration_s: float | None, scenario: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """The table's rows (module docstring)."""
    if "session_type" not in measured.columns or measured.empty:
        return []
    declared = _declared(scenario)
    types = measured["session_type"].astype(str)
    names = sorted(set(types), key=lambda n: (list(declared).index(n) if n in declared else len(declared), n))
    rows: list[dict[str, Any]] = []
    for name in names:
        group = measured[types == name]
        answered = group[group["outcome"].isin(_ANSWERED)]
        status = pd.to_numeric(answered["status"], errors="coerce").fillna(0).astype(int)
        latencies = np.sort(answered["latency_s"].dropna().to_numpy(dtype=float))
        role = declared.get(name, {}).get("role")
        if role is None and "role" in group.columns and not group.empty:
            role = str(group["role"].iloc[0])
        rows.append(
            {
                "session_type": name,
                "role": role,
                "token": declared.get(name, {}).get("token"),
                "requests": len(group),
                "rps": len(answered) / duration_s if duration_s else None,
                "p95_s": percentile(latencies, 95) if latencies.size else None,
                "errors": int(answered["outcome"].isin(("error", "timeout")).sum()),
                "status_401": int((status == 401).sum()),
                "status_403": int((status == 403).sum()),
            }
        )
    return rows


_HEADER = ["session type", "role", "token", "requests", "rps", "p95", "errors", "401s", "403s"]
_NOTE = (
    "Measured requests (after the warm-up). rps counts answered requests; p95 is the nearest-rank "
    "percentile over them; errors are error + timeout outcomes (a 401 or 403 is an error too); "
    "401s are refused tokens, 403s calls the role may not make."
)


def _cells(row: Mapping[str, Any]) -> list[str]:
    rps = row.get("rps")
    return [
        str(row["session_type"]),
        str(row.get("role") or "—"),
        str(row.get("token") or "—"),
        str(row["requests"]),
        "—" if rps is None else f"{rps:.1f}",
        fmt_seconds(row.get("p95_s")),
        str(row["errors"]),
        str(row["status_401"]),
        str(row["status_403"]),
    ]


def md_session_types(summary: Mapping[str, Any]) -> str:
    """report.md's "Requests by session type" section ("" when there are no rows)."""
    rows = summary.get("by_session_type") or []
    if not rows:
        return ""
    body = [[md_text(cell) for cell in _cells(row)] for row in rows]
    return "## Requests by session type\n\n" + md_table(_HEADER, body) + f"\n\n{_NOTE}"


def html_session_types(summary: Mapping[str, Any]) -> str:
    """report.html's "Requests by session type" section body ("" when there are no rows)."""
    rows = summary.get("by_session_type") or []
    if not rows:
        return ""
    body = []
    for row in rows:
        cells = _cells(row)
        text = "".join(f"<td>{esc(c)}</td>" for c in cells[:3]) + "".join(num_cell(c) for c in cells[3:])
        body.append(f"<tr>{text}</tr>")
    return html_table(_HEADER, body) + f'\n<p class="note">{esc(_NOTE)}</p>'

"""Reading Locust's own request statistics (``locust/<prefix>_stats.csv``).

Locust writes this file with ``--csv PREFIX`` (``locust.stats.StatsCSV.requests_csv``):
one row per request type and name, then a total row whose ``Type`` is empty and
whose ``Name`` is ``Aggregated``. Columns (Locust 2.x)::

    Type, Name, Request Count, Failure Count, Median Response Time,
    Average Response Time, Min Response Time, Max Response Time,
    Average Content Size, Requests/s, Failures/s, 50%, 66%, 75%, 80%, 90%,
    95%, 98%, 99%, 99.9%, 99.99%, 100%

Times are milliseconds; a name with no requests has ``N/A`` percentiles. Locust
buckets response times before computing percentiles (whole milliseconds, then two
significant digits above 100 ms), so its figures are approximate; they are shown
beside ours as a cross-check, never used for a verdict. This module converts
them to seconds and keeps Locust's own numbers otherwise.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reports.errors import RunFileError

__all__ = ["AGGREGATED", "LocustRow", "LocustStats", "read_locust_stats"]

AGGREGATED = "Aggregated"
"""Locust's name for its total row."""

_REQUIRED = ("Type", "Name", "Request Count", "Failure Count")


@dataclass(frozen=True)
class LocustRow:
    """Locust's figures for one request name, times in seconds (``None`` where Locust had none)."""

    request_type: str
    request_count: int
    failure_count: int
    median_s: float | None
    average_s: float | None
    min_s: float | None
    max_s: float | None
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    p99_s: float | None
    requests_per_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the row as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LocustStats:
    """Locust's statistics file, one row per name (``Aggregated`` included)."""

    path: Path
    rows: dict[str, LocustRow]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"file": ..., "by_name": {name: row}}`` for ``summary.json``."""
        return {"file": self.path.name, "by_name": {name: row.to_dict() for name, row in self.rows.items()}}


def read_locust_stats(locust_dir: Path) -> LocustStats | None:
    """Read ``locust_dir/*_stats.csv``; ``None`` if there is no such file.

    If several match, ``locust_stats.csv`` is preferred, else the first by name.
    A name that appears under two request types (``GET /x`` and ``POST /x``) is
    keyed ``"<Type> <Name>"`` for the second one so neither row is lost.

    Raises:
        RunFileError: the file cannot be read or lacks Locust's columns.
    """
    candidates = sorted(Path(locust_dir).glob("*_stats.csv")) if Path(locust_dir).is_dir() else []
    if not candidates:
        return None
    preferred = [path for path in candidates if path.name == "locust_stats.csv"]
    path = (preferred or candidates)[0]
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [column for column in _REQUIRED if column not in (reader.fieldnames or [])]
            if missing:
                raise RunFileError(path, f"not a Locust stats CSV: missing column(s) {', '.join(missing)}")
            raw_rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RunFileError(path, f"cannot read Locust stats CSV: {exc}") from exc
    rows: dict[str, LocustRow] = {}
    for line, raw in enumerate(raw_rows, start=2):
        row = _parse_row(raw, path, line)
        name = raw.get("Name") or ""
        key = name if name not in rows else f"{row.request_type} {name}"
        rows[key] = row
    return LocustStats(path=path, rows=rows)


def _parse_row(raw: Mapping[str, str | None], path: Path, line: int) -> LocustRow:
    """Convert one CSV row.

    Raises:
        RunFileError: a count column is not an integer.
    """
    try:
        request_count = int(raw.get("Request Count") or 0)
        failure_count = int(raw.get("Failure Count") or 0)
    except ValueError as exc:
        raise RunFileError(path, f"request or failure count is not an integer: {exc}", line) from exc
    return LocustRow(
        request_type=raw.get("Type") or "",
        request_count=request_count,
        failure_count=failure_count,
        median_s=_ms(raw, "Median Response Time", request_count),
        average_s=_ms(raw, "Average Response Time", request_count),
        min_s=_ms(raw, "Min Response Time", request_count),
        max_s=_ms(raw, "Max Response Time", request_count),
        p50_s=_ms(raw, "50%", request_count),
        p90_s=_ms(raw, "90%", request_count),
        p95_s=_ms(raw, "95%", request_count),
        p99_s=_ms(raw, "99%", request_count),
        requests_per_s=_number(raw.get("Requests/s")),
    )


def _ms(raw: Mapping[str, str | None], column: str, request_count: int) -> float | None:
    """A millisecond column in seconds; ``None`` when absent, ``N/A`` or there were no requests.

    Locust writes ``0`` rather than ``N/A`` for the median and average of a name
    with no requests; those zeros are not latencies.
    """
    if request_count == 0:
        return None
    value = _number(raw.get(column))
    return None if value is None else value / 1000.0


def _number(text: str | None) -> float | None:
    if text is None or text.strip() in ("", "N/A"):
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None

"""Reading the JSONL event parts that processes write while a run is going.

Format: ``events/<table>.<source>.jsonl``, UTF-8, one JSON object per line, each
line written whole by one process (so ``<source>`` parts never interleave).

A writer that crashes mid-write can leave its last line cut short; that line is
skipped with a warning. A malformed line anywhere else means the file is not
what a chaosbench process writes, and raises :class:`~reports.errors.RunFileError`
naming the file and line.

Parts can hold a million rows, so they are parsed with pyarrow's multi-threaded
JSON reader first. Its answer is used only when it is exactly what the strict
line-by-line parser would give: one row per non-empty line and only plain
column types (no nested objects, and no ISO-8601 strings that pyarrow turns
into timestamps). Anything else (a column whose type drifts, a nested value,
a malformed line) goes through the strict parser, which is slower but exact and
names the offending line.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.json as pa_json  # type: ignore[import-untyped]

from reports.errors import RunFileError

__all__ = ["jsonl_parts", "read_jsonl_part", "read_jsonl_parts"]


def jsonl_parts(events_dir: Path) -> dict[str, list[Path]]:
    """Return the JSONL parts in ``events_dir`` grouped by table name, each list sorted by file name."""
    parts: dict[str, list[Path]] = {}
    for path in sorted(events_dir.glob("*.*.jsonl")):
        table = path.name.split(".", 1)[0]
        if table:
            parts.setdefault(table, []).append(path)
    return parts


def read_jsonl_parts(parts: Sequence[Path], events_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read several parts of one table and concatenate them in the given order.

    Raises:
        RunFileError: as :func:`read_jsonl_part`.
    """
    frames: list[pd.DataFrame] = []
    warnings: list[str] = []
    for path in parts:
        frame, part_warnings = read_jsonl_part(path, f"{events_dir.name}/{path.name}")
        warnings.extend(part_warnings)
        if len(frame.columns):
            frames.append(frame)
    if not frames:
        return pd.DataFrame(), warnings
    if len(frames) == 1:
        return frames[0], warnings
    return pd.concat(frames, ignore_index=True, sort=False), warnings


def read_jsonl_part(path: Path, label: str) -> tuple[pd.DataFrame, list[str]]:
    """Read one part into a frame (columns as found), with any warnings.

    ``label`` is how warnings name the file (``events/requests.locust.jsonl``).

    Raises:
        RunFileError: the file cannot be read, or a line other than the last one is
            not a JSON object.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RunFileError(path, f"cannot read event file: {exc.strerror or exc}") from exc
    body, warnings = _cut_truncated_last_line(data, label)
    if not body.strip():
        return pd.DataFrame(), warnings
    frame = _read_fast(body)
    if frame is None:
        frame = pd.DataFrame.from_records(_parse_strictly(body, path))
    return frame, warnings


def _cut_truncated_last_line(data: bytes, label: str) -> tuple[bytes, list[str]]:
    """Drop the last non-empty line if it does not parse; say so in a warning."""
    end = len(data)
    while end and data[end - 1 : end] in (b" ", b"\t", b"\r", b"\n"):
        end -= 1
    start = data.rfind(b"\n", 0, end) + 1
    if start >= end:
        return data, []
    try:
        json.loads(data[start:end])
    except ValueError as exc:  # JSONDecodeError, and UnicodeDecodeError for a cut multi-byte character
        number = data.count(b"\n", 0, start) + 1
        return data[:start], [f"{label}: skipped a truncated last line (line {number}): {exc}"]
    return data, []


def _read_fast(body: bytes) -> pd.DataFrame | None:
    """Parse with pyarrow; ``None`` when its result might differ from the strict parser's."""
    try:
        table = pa_json.read_json(pa.BufferReader(body))
    except (pa.ArrowException, OSError):
        return None
    if not all(_is_plain(field.type) for field in table.schema):
        return None
    if table.num_rows != _count_lines(body, table.num_rows):
        return None
    frame: pd.DataFrame = table.to_pandas()
    return frame


def _count_lines(body: bytes, expected: int) -> int:
    """Count non-empty lines: by newlines when that already matches ``expected``, else exactly."""
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    if lines == expected:
        return lines
    return sum(1 for line in body.split(b"\n") if line.strip())


def _is_plain(arrow_type: Any) -> bool:
    types = pa.types
    return bool(
        types.is_null(arrow_type)
        or types.is_boolean(arrow_type)
        or types.is_integer(arrow_type)
        or types.is_floating(arrow_type)
        or types.is_string(arrow_type)
        or types.is_large_string(arrow_type)
    )


def _parse_strictly(body: bytes, path: Path) -> list[dict[str, Any]]:
    """Parse line by line, requiring one JSON object per non-empty line.

    Raises:
        RunFileError: naming the first line that is not a JSON object.
    """
    records: list[dict[str, Any]] = []
    for number, line in enumerate(body.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            problem = f"line is not valid JSON ({exc}); expected one JSON object per line"
            raise RunFileError(path, problem, number) from exc
        if not isinstance(record, dict):
            problem = f"line holds a JSON {type(record).__name__}; expected one JSON object per line"
            raise RunFileError(path, problem, number)
        records.append(record)
    return records

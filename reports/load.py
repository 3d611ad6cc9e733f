"""Loading a run directory, and compacting its event parts into Parquet.

A table's data is ``events/<table>.parquet`` when that file exists, otherwise the
concatenation of every ``events/<table>.*.jsonl`` part (``docs/architecture.md``,
"Run directory"). Compaction writes the Parquet file to a temporary name in the
same directory, renames it into place and only then deletes the parts, so a
crash at any point leaves either the parts or the complete Parquet file and the
loader reads whichever is there.

Warnings raised while compacting (a truncated last line that was skipped) are
stored in the Parquet file's schema metadata, so the report written after
compaction still mentions them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa  # type: ignore[import-untyped]  # pyarrow ships no type information
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import yaml

from reports.atomic import replace_atomically
from reports.errors import NotARunDirError, RunFileError
from reports.jsonl import jsonl_parts, read_jsonl_parts
from reports.tables import TABLES, conform, empty_frame

__all__ = ["RunData", "compact_events", "load_run", "read_table"]

_WARNINGS_KEY = b"chaosbench.warnings"


@dataclass(frozen=True, eq=False)
class RunData:
    """Everything a report needs from one run directory, read once.

    Every table frame has at least its documented required columns (see
    :data:`reports.tables.TABLES`), even when the table was never written.
    ``warnings`` lists what was odd but survivable (a skipped truncated line,
    a missing column, a missing ``events/`` directory).
    """

    run_dir: Path
    scenario: dict[str, Any]
    environment: dict[str, Any]
    run_info: dict[str, Any]
    requests: pd.DataFrame
    calls: pd.DataFrame
    breaker: pd.DataFrame
    faults: pd.DataFrame
    samples: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def load_run(run_dir: Path) -> RunData:
    """Read a run directory's scenario, run info, environment and event tables.

    Raises:
        NotARunDirError: ``run_dir`` is not a directory or has no ``scenario.yaml``.
        RunFileError: a file in it exists but cannot be read or parsed, or has the
            wrong shape (e.g. ``run.json`` is not a JSON object).
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise NotARunDirError(run_dir, "no such directory")
    scenario_path = run_dir / "scenario.yaml"
    if not scenario_path.is_file():
        raise NotARunDirError(run_dir, "scenario.yaml is missing")
    scenario = _read_mapping(scenario_path, _parse_yaml)
    environment = _read_optional_json(run_dir / "environment.json")
    run_info = _read_optional_json(run_dir / "run.json")

    warnings: list[str] = []
    events_dir = run_dir / "events"
    if not events_dir.is_dir():
        warnings.append("events/ directory is missing: every event table is empty")
    frames: dict[str, pd.DataFrame] = {}
    for name in TABLES:
        frame, table_warnings = read_table(events_dir, name)
        frames[name] = frame
        warnings.extend(table_warnings)
    return RunData(
        run_dir=run_dir,
        scenario=scenario,
        environment=environment,
        run_info=run_info,
        requests=frames["requests"],
        calls=frames["calls"],
        breaker=frames["breaker"],
        faults=frames["faults"],
        samples=frames["samples"],
        warnings=warnings,
    )


def read_table(events_dir: Path, name: str) -> tuple[pd.DataFrame, list[str]]:
    """Read one documented table from ``events_dir`` (Parquet if present, else the JSONL parts).

    Raises:
        KeyError: ``name`` is not a documented table.
        RunFileError: a Parquet file or JSONL part is unreadable or malformed.
    """
    spec = TABLES[name]
    parquet_path = events_dir / f"{name}.parquet"
    label = f"{events_dir.name}/{parquet_path.name}"
    if parquet_path.is_file():
        try:
            table = pq.read_table(parquet_path)
        except (OSError, pa.ArrowException) as exc:
            raise RunFileError(parquet_path, f"cannot read Parquet file: {exc}") from exc
        warnings = _stored_warnings(table.schema)
        frame, conform_warnings = conform(table.to_pandas(), spec, label)
        return frame, warnings + conform_warnings
    parts = jsonl_parts(events_dir).get(name, []) if events_dir.is_dir() else []
    if not parts:
        return empty_frame(spec), []
    raw, warnings = read_jsonl_parts(parts, events_dir)
    frame, conform_warnings = conform(raw, spec, f"{events_dir.name}/{name}")
    return frame, warnings + conform_warnings


def compact_events(events_dir: Path) -> dict[str, int]:
    """Turn every table's JSONL parts into ``<table>.parquet``; return row counts per table.

    Tables that are not documented are compacted too (as read, without required
    columns). If a table's Parquet file already exists, it is the table's data (a
    previous compaction stopped before deleting the parts), so the parts are only
    deleted. The result covers every table that has a Parquet file afterwards.

    Raises:
        RunFileError: a part is unreadable or malformed, or Arrow cannot store a
            column. Nothing is written or deleted for that table in that case.
    """
    events_dir = Path(events_dir)
    counts: dict[str, int] = {}
    if not events_dir.is_dir():
        return counts
    for name, parts in sorted(jsonl_parts(events_dir).items()):
        target = events_dir / f"{name}.parquet"
        if not target.is_file():
            _write_parquet_atomically(_compacted_table(name, parts, events_dir), target)
        for part in parts:
            part.unlink()
    for target in sorted(events_dir.glob("*.parquet")):
        try:
            counts[target.stem] = pq.read_metadata(target).num_rows
        except (OSError, pa.ArrowException) as exc:
            raise RunFileError(target, f"cannot read Parquet metadata: {exc}") from exc
    return counts


def _compacted_table(name: str, parts: list[Path], events_dir: Path) -> pa.Table:
    """Read a table's parts and build the Arrow table to store, warnings in its metadata."""
    frame, warnings = read_jsonl_parts(parts, events_dir)
    if name in TABLES:
        frame, conform_warnings = conform(frame, TABLES[name], f"{events_dir.name}/{name}")
        warnings += conform_warnings
    table = _to_arrow(frame, events_dir / f"{name}.parquet")
    if warnings:
        metadata = dict(table.schema.metadata or {})
        metadata[_WARNINGS_KEY] = json.dumps(warnings).encode()
        table = table.replace_schema_metadata(metadata)
    return table


def _to_arrow(frame: pd.DataFrame, target: Path) -> pa.Table:
    """Convert to Arrow; columns of mixed Python types are stored as JSON text instead of failing."""
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    frame = frame.copy()
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].map(_json_text).astype("str")
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RunFileError(target, f"cannot store the table as Parquet: {exc}") from exc


def _json_text(value: object) -> object:
    if value is None or isinstance(value, str) or (isinstance(value, float) and value != value):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _write_parquet_atomically(table: pa.Table, target: Path) -> None:
    """Write the table beside ``target`` under a temporary name, then rename it into place."""
    replace_atomically(target, lambda tmp_path: pq.write_table(table, tmp_path))


def _stored_warnings(schema: pa.Schema) -> list[str]:
    raw = (schema.metadata or {}).get(_WARNINGS_KEY)
    if not raw:
        return []
    try:
        stored = json.loads(raw)
    except ValueError:
        return []
    return [str(item) for item in stored] if isinstance(stored, list) else []


def _parse_yaml(text: str) -> object:
    return yaml.safe_load(text)


def _read_mapping(path: Path, parse: Callable[[str], object]) -> dict[str, Any]:
    """Read and parse a file that must hold a mapping (YAML or JSON object).

    Raises:
        RunFileError: unreadable, unparsable, or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(path, f"cannot read file: {exc}") from exc
    try:
        value = parse(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise RunFileError(path, f"cannot parse file: {exc}") from exc
    if not isinstance(value, dict):
        raise RunFileError(path, f"expected a mapping at the top level, found {type(value).__name__}")
    return value


def _read_optional_json(path: Path) -> dict[str, Any]:
    """Read a JSON object file, or ``{}`` when it does not exist.

    Raises:
        RunFileError: the file exists but is unreadable, invalid JSON or not an object.
    """
    if not path.exists():
        return {}
    return _read_mapping(path, json.loads)

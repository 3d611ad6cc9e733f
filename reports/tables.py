"""Event tables: their required columns, and conforming what was read to them.

This module knows the columns ``docs/architecture.md`` requires for each table
and turns whatever was read (from Parquet or JSONL parts) into a frame that has
them all, with stable dtypes, so the analysis code never has to check for a
column or guess a type. Columns may be added to a table, never renamed or
dropped, so extra columns are kept as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

__all__ = [
    "TABLES",
    "TableSpec",
    "conform",
    "empty_frame",
]

ColumnKind = Literal["float", "int", "str"]

_DTYPES: Mapping[ColumnKind, str] = {"float": "float64", "int": "Int64", "str": "str"}


@dataclass(frozen=True)
class TableSpec:
    """One event table: its name and its required columns with their kinds, in order."""

    name: str
    columns: tuple[tuple[str, ColumnKind], ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        """The required column names, in documented order."""
        return tuple(name for name, _ in self.columns)


TABLES: Mapping[str, TableSpec] = {
    spec.name: spec
    for spec in (
        TableSpec(
            "requests",
            (
                ("t_start", "float"),
                ("t_intended", "float"),
                ("latency_s", "float"),
                ("session_id", "str"),
                ("name", "str"),
                ("outcome", "str"),
                ("status", "int"),
                ("worker", "str"),
                ("request_id", "str"),
                ("error", "str"),
            ),
        ),
        TableSpec(
            "calls",
            (
                ("t_start", "float"),
                ("latency_s", "float"),
                ("request_id", "str"),
                ("server", "str"),
                ("tool", "str"),
                ("attempt", "int"),
                ("outcome", "str"),
                ("breaker_state", "str"),
                ("error", "str"),
            ),
        ),
        TableSpec(
            "breaker",
            (
                ("t", "float"),
                ("server", "str"),
                ("from_state", "str"),
                ("to_state", "str"),
                ("reason", "str"),
            ),
        ),
        TableSpec(
            "faults",
            (("t_start", "float"), ("t_end", "float"), ("target", "str"), ("kind", "str"), ("params", "str")),
        ),
        TableSpec(
            "samples",
            (
                ("t", "float"),
                ("process", "str"),
                ("pid", "int"),
                ("cpu_percent", "float"),
                ("rss_bytes", "int"),
            ),
        ),
    )
}
"""The documented tables (``docs/architecture.md``, "Event tables")."""


def empty_frame(spec: TableSpec) -> pd.DataFrame:
    """Return an empty frame with the table's required columns and dtypes."""
    return pd.DataFrame({name: pd.Series(dtype=_DTYPES[kind]) for name, kind in spec.columns})


def conform(frame: pd.DataFrame, spec: TableSpec, label: str) -> tuple[pd.DataFrame, list[str]]:
    """Give ``frame`` every required column of ``spec``, with its dtype, required columns first.

    Missing columns are added as nulls, values that cannot be converted become
    nulls, and both are reported as warnings (only for non-empty frames: an empty
    table is normal, a half-written one is worth saying). Extra columns are kept
    unchanged after the required ones.
    """
    warnings: list[str] = []
    if frame.empty and len(frame.columns) == 0:
        return empty_frame(spec), warnings
    out = pd.DataFrame(index=pd.RangeIndex(len(frame)))
    for name, kind in spec.columns:
        if name not in frame.columns:
            if len(frame):
                warnings.append(f"{label}: required column {name!r} is missing; treated as empty")
            out[name] = pd.Series([None] * len(frame), dtype=_DTYPES[kind])
            continue
        column, bad = _coerce(frame[name].reset_index(drop=True), kind)
        if bad:
            warnings.append(
                f"{label}: {bad} value(s) in column {name!r} are not of type {kind}; treated as null"
            )
        out[name] = column
    extras = [name for name in frame.columns if name not in out.columns]
    for name in extras:
        out[name] = frame[name].reset_index(drop=True)
    return out, warnings


def _coerce(column: pd.Series[Any], kind: ColumnKind) -> tuple[pd.Series[Any], int]:
    """Convert one column to its kind's dtype; return it and how many values became null."""
    was_null = column.isna()
    converted: pd.Series[Any]
    if kind == "str":
        if column.dtype == object and not was_null.all():
            present = ~was_null
            column = column.copy()
            column[present] = column[present].map(_as_text)
        converted = column.astype("str")
    else:
        numeric = pd.to_numeric(column, errors="coerce")
        if kind == "float":
            converted = numeric.astype("float64")
        else:
            try:
                converted = numeric.astype("Int64")
            except (TypeError, ValueError):  # non-integral values: keep them rather than truncate
                converted = numeric.astype("float64")
    bad = int((converted.isna() & ~was_null).sum())
    return converted, bad


def _as_text(value: object) -> object:
    """Render nested JSON values (``params`` written as an object) as JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return value

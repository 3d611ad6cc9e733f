"""Append-only JSONL event writers, one file per table and process.

File naming follows the run-directory contract: ``events/<table>.<source>.jsonl``.
Rows are buffered and flushed when the buffer reaches ``flush_rows`` or when
``flush_interval_s`` has passed since the last flush, so a crashed process
loses at most one buffer. Writes are synchronous and cheap; callers on an
event loop call :meth:`EventWriter.write` directly.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

__all__ = ["TABLES", "EventSink", "EventWriter", "NullEventWriter"]

TABLES = ("requests", "calls", "breaker", "faults", "samples")


class EventSink:
    """Something that accepts event rows (the real writer or a recorder in tests)."""

    def write(self, row: Mapping[str, Any]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def flush(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class NullEventWriter(EventSink):
    """Discards every row (used when a component runs without a run directory)."""

    def write(self, row: Mapping[str, Any]) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


class EventWriter(EventSink):
    """Writes rows of one table as JSON lines to ``<events_dir>/<table>.<source>.jsonl``.

    Raises ``ValueError`` for an unknown table name.
    """

    def __init__(
        self,
        events_dir: Path,
        table: str,
        source: str,
        *,
        flush_rows: int = 256,
        flush_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if table not in TABLES:
            raise ValueError(f"unknown event table {table!r}; expected one of {', '.join(TABLES)}")
        events_dir.mkdir(parents=True, exist_ok=True)
        safe_source = "".join(c if c.isalnum() or c in "-_" else "_" for c in source)
        self.path = events_dir / f"{table}.{safe_source}.jsonl"
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        if self._file.tell() > 0 and not _ends_with_newline(self.path):
            # An earlier writer of this file died mid-line: start a fresh line so that the
            # torn row stays one bad line instead of corrupting the first new one.
            self._file.write("\n")
        self._buffer: list[str] = []
        self._flush_rows = flush_rows
        self._flush_interval_s = flush_interval_s
        self._clock = clock
        self._last_flush = clock()
        self.rows_written = 0

    def write(self, row: Mapping[str, Any]) -> None:
        if self._file is None:
            return
        self._buffer.append(json.dumps(row, separators=(",", ":"), default=str))
        self.rows_written += 1
        if (
            len(self._buffer) >= self._flush_rows
            or self._clock() - self._last_flush >= self._flush_interval_s
        ):
            self.flush()

    def flush(self) -> None:
        if self._file is None or not self._buffer:
            return
        self._file.write("\n".join(self._buffer) + "\n")
        self._file.flush()
        self._buffer.clear()
        self._last_flush = self._clock()

    def close(self) -> None:
        if self._file is None:
            return
        self.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"

"""Errors raised by the reports package.

Everything the package raises on purpose derives from :class:`ReportError`, so
the CLI can tell bad input (exit 2) from a bug (exit 3). Messages name the path
that was wrong, what was wrong with it and what was expected.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["NoEventsError", "NotARunDirError", "ReportError", "RunFileError"]


class ReportError(Exception):
    """Root of every error the reports package raises deliberately."""


class NotARunDirError(ReportError):
    """The path given is not a chaosbench run directory (no ``scenario.yaml`` in it)."""

    def __init__(self, path: Path, missing: str) -> None:
        self.path = path
        self.missing = missing
        super().__init__(
            f"{path}: not a run directory: {missing} "
            "(expected a directory written by `chaosbench run`, containing scenario.yaml)"
        )


class RunFileError(ReportError):
    """A file inside a run directory exists but cannot be read or has the wrong shape."""

    def __init__(self, path: Path, problem: str, line: int | None = None) -> None:
        self.path = path
        self.problem = problem
        self.line = line
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")


class NoEventsError(ReportError):
    """A run directory holds no rows of an event table a command needs (e.g. ``requests`` to compare)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table
        super().__init__(
            f"{path}: no {table} events (expected events/{table}.parquet or events/{table}.*.jsonl with rows; "
            "was the run stopped before its load started?)"
        )

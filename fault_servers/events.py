"""Writing the ``faults`` table: one JSON line per fault window as applied in this process.

File: ``DIR/faults.<name>-<pid>.jsonl`` (the run directory's
``events/<table>.<source>.jsonl`` convention). Keys: ``t_start``, ``t_end``
(Unix seconds), ``target`` (the server's name), ``kind``, ``params`` (the
fault's parameters as JSON text with sorted keys), plus ``window`` (its key
path in the fault plan, e.g. ``timeline[2]``) and ``pid``. Each row is
flushed as soon as it is written, so a process that is killed later loses
nothing already reported.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from fault_servers.errors import FaultServerError
from fault_servers.model import AppliedWindow


def events_path(events_dir: str | os.PathLike[str], name: str, pid: int) -> Path:
    """Where the process `pid` serving as `name` writes its fault windows."""
    return Path(events_dir) / f"faults.{name}-{pid}.jsonl"


def fault_row(window: AppliedWindow, target: str, pid: int) -> dict[str, object]:
    """One ``faults`` table row for `window`."""
    return {
        "t_start": window.t_start,
        "t_end": window.t_end,
        "target": target,
        "kind": window.kind,
        "params": json.dumps(window.params, sort_keys=True),
        "window": window.key_path,
        "pid": pid,
    }


class FaultEventLog:
    """Appends applied fault windows to `path` (or drops them when `path` is None).

    The file is opened on the first row, so a process that applies no fault
    leaves no file. Raises OSError when the file cannot be written.
    """

    def __init__(self, path: Path | None, target: str, pid: int | None = None) -> None:
        self.path = path
        self.target = target
        self.pid = os.getpid() if pid is None else pid
        self._file: IO[str] | None = None

    def write(self, windows: Iterable[AppliedWindow]) -> None:
        """Append one line per window and flush."""
        lines = [json.dumps(fault_row(window, self.target, self.pid)) + "\n" for window in windows]
        if not lines or self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        self._file.writelines(lines)
        self._file.flush()

    def close(self) -> None:
        """Close the file; later writes reopen it."""
        if self._file is not None:
            self._file.close()
            self._file = None


def open_event_log(events_dir: str | os.PathLike[str] | None, target: str) -> FaultEventLog:
    """The fault-window log of this process: ``<events_dir>/faults.<target>-<pid>.jsonl``,
    or a log that writes nothing when ``events_dir`` is None.

    Raises FaultServerError when the events directory cannot be created.
    """
    pid = os.getpid()
    if events_dir is None:
        return FaultEventLog(None, target, pid)
    path = events_path(events_dir, target, pid)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FaultServerError(f"cannot create the events directory {events_dir}: {exc.strerror}") from exc
    return FaultEventLog(path, target, pid)

"""The audit log: every authentication, grant and denial as one JSON line, never blocking a request.

:meth:`AuditLog.record` appends the event to a bounded queue (a ``deque``: no lock,
no wake-up, about half a microsecond) and returns at once; a writer thread wakes
every ``batch_interval_s`` (so a busy gateway pays no thread switch per event),
turns what is queued into lines and appends them to ``path``, rotating by
size (``path`` → ``path.1`` → ... → ``path.<backup_count>``, the oldest dropped),
as :class:`logging.handlers.RotatingFileHandler` does. When the queue is full the
event is dropped and counted (``dropped``): memory stays bounded and a request
never waits for the disk. :meth:`AuditLog.close` writes everything queued.

One line per event, ``t`` and ``event`` first::

    {"t": 1700000000.5, "event": "authn_failure", "reason": "expired", "claimed_user": "alice", "request_id": "...", ...}

| event | fields besides ``t``, ``event``, ``request_id`` |
|---|---|
| ``authn_success`` | ``user``, ``roles``, ``session_id``, ``org_id``, ``kid``, ``path`` |
| ``authn_failure`` | ``reason``, ``detail``, ``path``, ``client``, ``claimed_user`` (unverified ``sub``/``user_id``, if readable) |
| ``grant`` | ``user``, ``session_id``, ``server``, ``tool``, ``permission`` |
| ``deny`` | ``user``, ``session_id``, ``server``, ``tool`` (empty for a request-level denial), ``permission`` (needed), ``reason`` |
| ``rate_limited`` | ``user``, ``session_id``, ``retry_after_s`` |

:func:`query_audit` reads the file and its rotated backups, oldest first, and
returns a user's events (``user`` or ``claimed_user``); ``GET /v1/audit?user=``
on the gateway and ``python -m harness.auth audit FILE --user U`` use it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TextIO

__all__ = ["AuditLog", "AuditSink", "NullAuditLog", "query_audit"]

#: ``json.dumps(event, separators=(",", ":"), default=str)`` without building an encoder per line.
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


class AuditSink:
    """Accepts audit events (the real log, or a null one when auth is off)."""

    written = 0
    dropped = 0

    def record(self, event: str, **fields: Any) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def flush(self, timeout_s: float = 5.0) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def close(self, timeout_s: float = 5.0) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class NullAuditLog(AuditSink):
    def record(self, event: str, **fields: Any) -> bool:
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        return None


class AuditLog(AuditSink):
    """A rotating JSON-lines audit file fed through a bounded queue by a writer thread."""

    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 10 * 1024 * 1024,
        backup_count: int = 5,
        queue_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        errlog: TextIO | None = None,
        autostart: bool = True,
        batch_interval_s: float = 0.05,
    ) -> None:
        if max_bytes < 1 or backup_count < 0 or queue_size < 1:
            raise ValueError(
                f"max_bytes >= 1, backup_count >= 0 and queue_size >= 1 expected, got "
                f"{max_bytes}, {backup_count}, {queue_size}"
            )
        self.path = path
        self.max_bytes = max_bytes
        self.backup_count = backup_count
        self.batch_interval_s = batch_interval_s
        self._clock = clock
        self._errlog = errlog if errlog is not None else sys.stderr
        # Appends (the event loop) and pops (the writer) are atomic on a deque; the bound is
        # checked by the one producer thread, the gateway's event loop.
        self._queue: deque[dict[str, Any]] = deque()
        self._queue_size = queue_size
        self.enqueued = 0
        self.written = 0
        self.dropped = 0
        self.write_errors = 0
        self._done = threading.Condition()
        self._stopping = threading.Event()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = _open_private(path, append=True)
        self._size = self._file.tell()
        self._thread = threading.Thread(target=self._run, name=f"audit-writer:{path.name}", daemon=True)
        if autostart:
            self._thread.start()

    def start(self) -> None:
        """Start the writer (only needed with ``autostart=False``, which tests use to fill the queue)."""
        self._thread.start()

    def record(self, event: str, **fields: Any) -> bool:
        """Queue one event; ``False`` (and counted in ``dropped``) when the queue is full or closed."""
        if self._stopping.is_set():
            self.dropped += 1
            return False
        if len(self._queue) >= self._queue_size:
            self.dropped += 1
            return False
        row = {"t": self._clock(), "event": event}
        row.update(fields)
        self._queue.append(row)
        self.enqueued += 1
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait (at most ``timeout_s``) until every event queued so far is written; ``True`` if it was."""
        target = self.enqueued
        with self._done:
            return self._done.wait_for(lambda: self.written + self.write_errors >= target, timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Write what is queued (at most ``timeout_s``), stop the writer and close the file."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        elif self._thread.ident is None:
            self._file.close()  # never started

    # -- the writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                stopping = self._stopping.wait(self.batch_interval_s)
                while batch := list(self._drain(1000)):
                    self._write_batch(batch)
                if stopping:
                    return
        finally:
            self._file.close()

    def _drain(self, limit: int) -> Iterator[dict[str, Any]]:
        for _ in range(limit):
            try:
                yield self._queue.popleft()
            except IndexError:
                return

    def _write_batch(self, events: list[dict[str, Any]]) -> None:
        ok = failed = 0
        for event in events:
            line = _ENCODE(event) + "\n"
            try:
                if self._size > 0 and self._size + len(line) > self.max_bytes:
                    self._rotate()
                self._file.write(line)
                self._size += len(line)
                ok += 1
            except OSError as exc:
                failed += 1
                if self.write_errors + failed == 1:
                    print(
                        f"audit log {self.path}: cannot write ({exc}); counting lost events",
                        file=self._errlog,
                    )
        try:
            self._file.flush()
        except OSError as exc:
            # What was buffered is lost with the flush: count the batch as failed.
            ok, failed = 0, ok + failed
            print(f"audit log {self.path}: cannot flush ({exc}); counting lost events", file=self._errlog)
        with self._done:
            self.written += ok
            self.write_errors += failed
            self._done.notify_all()

    def _rotate(self) -> None:
        self._file.close()
        if self.backup_count > 0:
            for i in range(self.backup_count - 1, 0, -1):
                older = _backup(self.path, i)
                if older.exists():
                    os.replace(older, _backup(self.path, i + 1))
            os.replace(self.path, _backup(self.path, 1))
            self._file = _open_private(self.path, append=True)
        else:
            self._file = _open_private(self.path, append=False)
        self._size = 0


def _open_private(path: Path, *, append: bool) -> IO[str]:
    """Open for writing; a file created here is readable by its owner only (the audit names users)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    return os.fdopen(os.open(path, flags, 0o600), "a" if append else "w", encoding="utf-8")


def _backup(path: Path, index: int) -> Path:
    return path.with_name(f"{path.name}.{index}")


def query_audit(
    path: Path, *, user: str | None = None, event: str | None = None, limit: int = 1000
) -> list[dict[str, Any]]:
    """The last ``limit`` events (oldest first) of ``path`` and its backups, for ``user`` (matched
    against ``user`` and ``claimed_user``) and ``event`` when given. Unreadable lines are skipped."""
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    backups = sorted(
        (p for p in path.parent.glob(f"{path.name}.*") if p.name[len(path.name) + 1 :].isdigit()),
        key=lambda p: -int(p.name[len(path.name) + 1 :]),
    )
    found: deque[dict[str, Any]] = deque(maxlen=limit)
    for part in [*backups, path]:
        try:
            handle = open(part, encoding="utf-8")  # noqa: SIM115
        except FileNotFoundError:
            continue  # rotated away while we listed
        with handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue  # a line being written
                if not isinstance(row, dict):
                    continue
                if user is not None and user not in (row.get("user"), row.get("claimed_user")):
                    continue
                if event is not None and row.get("event") != event:
                    continue
                found.append(row)
    return list(found)

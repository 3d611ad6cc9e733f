"""Child processes of a run: started in their own process group, logged, always stopped.

Each child gets ``start_new_session=True``: a terminal's Ctrl-C then reaches only
the orchestrator, which stops the children in order (load first, then the
gateway, then the servers). Stopping is SIGTERM, a bounded wait, then SIGKILL of
the whole process group, which also takes any grandchild (a stdio MCP server
spawned by the gateway) that outlived its parent.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import psutil

__all__ = ["ManagedProcess"]


class ManagedProcess:
    """A child process with a log file and a process group of its own."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.popen = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self.pid = self.popen.pid
        self.pgid = self.pid
        self._known_descendants: set[int] = set()
        self.started_at = time.time()
        self.stopped_at: float | None = None

    @property
    def exit_code(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def remember_descendants(self) -> list[psutil.Process]:
        """Note the child's descendants now, so they can be stopped even if it dies first."""
        try:
            children = psutil.Process(self.pid).children(recursive=True)
        except psutil.Error:
            return []
        self._known_descendants.update(c.pid for c in children)
        return children

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)

    def stop(self, grace_s: float = 10.0, sleep: Callable[[float], None] = time.sleep) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL the group and known descendants."""
        self.remember_descendants()
        self.signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=grace_s)
        self._kill_leftovers()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=5.0)
        if self.stopped_at is None:
            self.stopped_at = time.time()
        if not self._log.closed:
            self._log.close()
        return self.popen.poll()

    def _kill_leftovers(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, signal.SIGKILL)
        for pid in self._known_descendants:
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                proc.kill()
                proc.wait(timeout=2.0)

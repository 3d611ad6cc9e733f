"""Periodic samples (about 1/s) for the ``samples`` table: CPU and RSS of every process of a run,
and each server's gauges as the gateway's manager sees them (``process`` = ``gateway/<server>``)."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable

import psutil

from harness.events import EventSink
from harness.orchestrator.gauges import GatewaySnapshot, server_rows
from harness.orchestrator.procs import ManagedProcess

__all__ = ["Sampler"]


class Sampler:
    """Samples CPU and RSS of tracked processes and their descendants (stdio servers included)."""

    def __init__(self, sink: EventSink, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self._tracked: dict[str, tuple[psutil.Process, ManagedProcess | None]] = {}
        self._children: dict[int, psutil.Process] = {}

    def track(self, name: str, proc: ManagedProcess | None) -> None:
        """Track ``proc`` (``None``: this orchestrator process) under ``name``."""
        with contextlib.suppress(psutil.Error):
            ps = psutil.Process(proc.pid if proc is not None else os.getpid())
            ps.cpu_percent(None)  # primes the counter; the first real reading is one interval later
            self._tracked[name] = (ps, proc)

    def sample(self, gateway_snapshot: GatewaySnapshot | None = None) -> None:
        now = self._clock()
        for name, (ps, managed) in list(self._tracked.items()):
            row = self._row(now, name, ps)
            if row is None:
                continue
            if name == "gateway" and gateway_snapshot is not None:
                row["agent_in_progress"] = gateway_snapshot.in_progress
                row["agent_requests_total"] = gateway_snapshot.requests
            self._sink.write(row)
            if managed is not None:
                for child in managed.remember_descendants():
                    known = self._children.setdefault(child.pid, child)
                    child_row = self._row(now, f"{name}/{_short_name(known)}", known)
                    if child_row is not None:
                        self._sink.write(child_row)
        if gateway_snapshot is not None:
            for row in server_rows(now, gateway_snapshot):
                self._sink.write(row)

    def close(self) -> None:
        self._sink.close()

    @staticmethod
    def _row(now: float, name: str, ps: psutil.Process) -> dict[str, object] | None:
        try:
            with ps.oneshot():
                return {
                    "t": now,
                    "process": name,
                    "pid": ps.pid,
                    "cpu_percent": ps.cpu_percent(None),
                    "rss_bytes": ps.memory_info().rss,
                }
        except psutil.Error:
            return None


def _short_name(ps: psutil.Process) -> str:
    try:
        cmd = ps.cmdline()
    except psutil.Error:
        return str(ps.pid)
    if "fault_servers" in cmd and "serve" in cmd:
        idx = cmd.index("serve")
        return f"server-{cmd[idx + 1]}-{ps.pid}" if idx + 1 < len(cmd) else f"server-{ps.pid}"
    return f"{os.path.basename(cmd[0]) if cmd else 'proc'}-{ps.pid}"

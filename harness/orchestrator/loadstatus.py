"""What the Locust processes say about themselves: ``runtime/locust-status.<worker>-<pid>.json``.

Every Locust process (the local one, the master, each worker) rewrites its status file
atomically about once a second (contract C2 in docs/architecture.md, "Load"):
``{"worker", "t", "locust_users", "sessions_in_flight", "requests_total", "dropped_total",
"stage", "target_users"}``. The orchestrator sums them for the progress line. A file not
rewritten for ``max_age_s`` belongs to a process that has stopped and is left out.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadStatus", "read_load_status"]

STATUS_GLOB = "locust-status.*.json"


@dataclass(frozen=True)
class LoadStatus:
    """The Locust processes' figures summed (``target_users``: the shape's target, if one says)."""

    processes: int
    locust_users: int
    sessions_in_flight: int
    requests_total: int
    dropped_total: int
    target_users: int | None


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return int(value)


def read_load_status(runtime_dir: Path, now: float, max_age_s: float = 5.0) -> LoadStatus | None:
    """Sum the fresh status files in ``runtime_dir``; ``None`` when there is none.

    A file that cannot be read or parsed (it is being replaced) is skipped this time.
    """
    fresh: list[dict[str, object]] = []
    for path in sorted(runtime_dir.glob(STATUS_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        t = data.get("t")
        if not isinstance(t, int | float) or now - t > max_age_s:
            continue
        fresh.append(data)
    if not fresh:
        return None
    targets = [_int(d["target_users"]) for d in fresh if d.get("target_users") is not None]
    return LoadStatus(
        processes=len(fresh),
        locust_users=sum(_int(d.get("locust_users")) for d in fresh),
        sessions_in_flight=sum(_int(d.get("sessions_in_flight")) for d in fresh),
        requests_total=sum(_int(d.get("requests_total")) for d in fresh),
        dropped_total=sum(_int(d.get("dropped_total")) for d in fresh),
        target_users=max(targets) if targets else None,
    )

"""Request tracking for agent turns: in-flight count, totals by outcome, recent requests.

Memory is bounded: only the last ``max_recent`` finished requests are kept. The
tracker reads no clock; the caller passes the times.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

__all__ = ["RequestRecord", "RequestTracker"]


@dataclass(frozen=True)
class RequestRecord:
    """One finished request: wall-clock start and end, outcome and the attempts it took."""

    request_id: str
    session_id: str
    turn: int
    t_start: float
    t_end: float
    outcome: str
    attempts: int

    @property
    def latency_s(self) -> float:
        return self.t_end - self.t_start


class RequestTracker:
    """Counts requests as they start and finish; keeps the most recent ones."""

    def __init__(self, max_recent: int = 1000) -> None:
        if max_recent < 0:
            raise ValueError(f"max_recent must be >= 0, got {max_recent}")
        self.in_flight = 0
        self.started_total = 0
        self.totals: Counter[str] = Counter()
        self.recent: deque[RequestRecord] = deque(maxlen=max_recent)

    def start(self) -> None:
        self.in_flight += 1
        self.started_total += 1

    def finish(self, record: RequestRecord) -> None:
        self.in_flight -= 1
        self.totals[record.outcome] += 1
        self.recent.append(record)

    @property
    def finished_total(self) -> int:
        return sum(self.totals.values())

    def snapshot(self) -> dict[str, Any]:
        """Counts for health checks and metrics."""
        return {
            "in_flight": self.in_flight,
            "started_total": self.started_total,
            "finished_total": self.finished_total,
            "totals": dict(self.totals),
        }

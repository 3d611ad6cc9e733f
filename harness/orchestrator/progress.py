"""Live progress: one line per interval, readable in a terminal and in CI logs.

A line says where the load is (elapsed/total, the stage or capacity step), how many
users the Locust processes run (summed from their status files; ``-`` before any
writes one), what the gateway serves (requests/s, p95 bucket, errors, in flight),
each breaker's state and the fault windows open now::

    [   12s/60s] users 48/50  step 2/5 (100 users)  requests 1234 (45.1/s)  in flight 7  p95 <=0.25s  errors 3 (0.2%)  breakers weather=open  faults weather:crash (3s left)

Everything here is pure: the caller passes the figures and the time. ANSI colours
only when asked (the caller asks when stdout is a terminal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.orchestrator.gauges import GatewaySnapshot
from harness.orchestrator.loadstatus import LoadStatus
from harness.scenario import LoadConfig, TimelineEntry

__all__ = ["ActiveWindow", "ProgressView", "StagePosition", "active_windows", "format_progress", "stage_at"]

_RED, _YELLOW, _RESET = "\033[31m", "\033[33m", "\033[0m"
_STATE_COLOUR = {"open": _RED, "forced_open": _RED, "half_open": _YELLOW}


@dataclass(frozen=True)
class StagePosition:
    """Stage ``index`` (1-based) of ``count``, at ``users``; ``label`` is ``stage`` or ``step``."""

    label: str
    index: int
    count: int
    users: int


@dataclass(frozen=True)
class ActiveWindow:
    target: str
    kind: str
    left_s: float | None  # None: the window lasts to the end of the run


@dataclass(frozen=True)
class ProgressView:
    elapsed_s: float
    duration_s: float
    gateway: GatewaySnapshot | None
    before: GatewaySnapshot | None = None
    dt_s: float = 0.0
    load: LoadStatus | None = None
    stage: StagePosition | None = None
    faults: Sequence[ActiveWindow] = field(default_factory=tuple)


def stage_at(load: LoadConfig, elapsed_s: float) -> StagePosition | None:
    """The closed-model stage being played ``elapsed_s`` into the load (capacity search: the step).

    ``None`` for the open model and for a single stage, where there is nothing to say.
    """
    stages = load.effective_stages()
    searching = load.capacity is not None and load.capacity.enabled
    if len(stages) < 2 and not searching:
        return None
    end = 0.0
    for i, stage in enumerate(stages):
        end += stage.duration_s
        if elapsed_s < end or i == len(stages) - 1:
            return StagePosition("step" if searching else "stage", i + 1, len(stages), stage.users)
    return None  # pragma: no cover - the loop always returns for a non-empty list


def active_windows(timeline: Sequence[TimelineEntry], since_origin_s: float) -> list[ActiveWindow]:
    """The timeline's windows open ``since_origin_s`` after the timeline's origin (the load start)."""
    found = []
    for entry in timeline:
        end = None if entry.for_s is None else entry.at_s + entry.for_s
        if entry.at_s <= since_origin_s and (end is None or since_origin_s < end):
            kind = str(entry.fault.get("kind", "?"))
            found.append(ActiveWindow(entry.target, kind, None if end is None else end - since_origin_s))
    return found


def _paint(text: str, colour: str | None, color: bool) -> str:
    return f"{colour}{text}{_RESET}" if color and colour else text


def format_progress(view: ProgressView, color: bool = False) -> str:
    """One progress line (no newline)."""
    head = f"[{view.elapsed_s:5.0f}s/{view.duration_s:.0f}s]"
    parts: list[str] = []
    if view.load is None:
        parts.append("users -")
    elif view.load.target_users is not None:
        parts.append(f"users {view.load.locust_users}/{view.load.target_users}")
    else:
        parts.append(f"users {view.load.locust_users}")
    if view.stage is not None:
        s = view.stage
        parts.append(f"{s.label} {s.index}/{s.count} ({s.users} users)")
    now, before = view.gateway, view.before
    if now is None:
        parts.append("gateway metrics unavailable")
    else:
        rate = (now.requests - (before.requests if before else 0.0)) / view.dt_s if view.dt_s > 0 else 0.0
        p95 = "-" if now.p95_s is None else "<=" + (f"{now.p95_s:g}s" if now.p95_s != float("inf") else "inf")
        err_pct = 100.0 * now.errors / now.requests if now.requests else 0.0
        errors = _paint(f"errors {now.errors:.0f} ({err_pct:.1f}%)", _RED if now.errors else None, color)
        breakers = (
            " ".join(
                _paint(f"{name}={state}", _STATE_COLOUR.get(state), color)
                for name, state in sorted(now.breakers.items())
            )
            or "-"
        )
        parts += [
            f"requests {now.requests:.0f} ({rate:.1f}/s)",
            f"in flight {now.in_progress:.0f}",
            f"p95 {p95}",
            errors,
            f"breakers {breakers}",
        ]
    if view.faults:
        windows = ", ".join(
            f"{w.target}:{w.kind}" + ("" if w.left_s is None else f" ({w.left_s:.0f}s left)")
            for w in view.faults
        )
        parts.append("faults " + _paint(windows, _YELLOW, color))
    else:
        parts.append("faults -")
    return head + " " + "  ".join(parts)

"""A server's fault plan: static faults plus a timeline of windows.

Static faults (``faults:`` in a fault file) are active for the whole life of
the process. A `TimelineWindow` makes its fault active from ``at_s`` to
``at_s + for_s`` seconds after the run start (``for_s`` None: until the end).
Entries are named by their key path (``faults[0]``, ``timeline[2]``), which
is also their order in every seeded draw sequence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from fault_servers.errors import FaultConfigError
from fault_servers.model.kinds import HTTP_ONLY_KINDS, CrashFault, Fault, LatencyFault, SlowStartFault


@dataclass(frozen=True)
class TimelineWindow:
    """`fault` is active from `at_s` to ``at_s + for_s`` seconds after the run start.

    `for_s` None means until the process ends. Raises ValueError on
    construction when an offset is negative or not finite.
    """

    at_s: float
    fault: Fault
    for_s: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.at_s) and self.at_s >= 0):
            raise ValueError(f"at_s must be finite seconds >= 0, got {self.at_s!r}")
        if self.for_s is not None and not (math.isfinite(self.for_s) and self.for_s >= 0):
            raise ValueError(f"for_s must be finite seconds >= 0, got {self.for_s!r}")

    def span(self, run_start: float) -> tuple[float, float]:
        """Start and end as Unix times (end is +inf when open-ended)."""
        start = run_start + self.at_s
        return start, math.inf if self.for_s is None else start + self.for_s


@dataclass(frozen=True)
class PlanEntry:
    """One fault of a plan with its key path, and its window when it is on the timeline."""

    key_path: str
    fault: Fault
    window: TimelineWindow | None


@dataclass(frozen=True)
class FaultPlan:
    """The faults of one server process: static `faults`, then `timeline` windows.

    `source` says where the plan came from (a file path, or a label for
    plans built in code) so later errors about it can name it.
    """

    faults: tuple[Fault, ...] = ()
    source: str = "<inline>"
    timeline: tuple[TimelineWindow, ...] = ()

    def entries(self) -> Iterator[PlanEntry]:
        """Every fault in draw order: static faults, then timeline windows, each in file order."""
        for i, fault in enumerate(self.faults):
            yield PlanEntry(f"faults[{i}]", fault, None)
        for i, window in enumerate(self.timeline):
            yield PlanEntry(f"timeline[{i}]", window.fault, window)

    @property
    def kinds(self) -> frozenset[str]:
        """Every fault kind the plan uses."""
        return frozenset(entry.fault.kind for entry in self.entries())

    @property
    def http_only_kinds(self) -> frozenset[str]:
        """The kinds in this plan that only the HTTP transport can carry out (e.g. ``http_status``)."""
        return self.kinds & HTTP_ONLY_KINDS

    def check_transport(self, transport: str) -> None:
        """Fail when the plan uses a kind `transport` cannot carry out (``http_status`` over stdio).

        Raises FaultConfigError naming the key path, e.g. ``timeline[1].fault.kind``.
        """
        if transport == "http":
            return
        for entry in self.entries():
            if entry.fault.kind in HTTP_ONLY_KINDS:
                raise FaultConfigError(
                    self.source,
                    f"{_fault_path(entry)}.kind",
                    f"{entry.fault.kind!r} needs the http transport; expected a kind that works over "
                    f"{transport} (e.g. flapping or jsonrpc_error)",
                )

    def check_tool_names(self, known: frozenset[str]) -> None:
        """Fail when a fault names a tool outside `known` (a typo would silently never fire).

        Raises FaultConfigError naming the key path, e.g. ``timeline[0].fault.tools[1]``.
        """
        for entry in self.entries():
            for j, name in enumerate(entry.fault.tools):
                if name not in known:
                    raise FaultConfigError(
                        self.source,
                        f"{_fault_path(entry)}.tools[{j}]",
                        f"unknown tool {name!r}; expected one of {', '.join(sorted(known))}",
                    )

    def to_data(self) -> dict[str, Any]:
        """The plan as fault-file data (JSON-ready); `parse_faults` reads it back to an equal plan."""
        data: dict[str, Any] = {"faults": [fault_to_data(fault) for fault in self.faults]}
        if self.timeline:
            data["timeline"] = [window_to_data(window) for window in self.timeline]
        return data


def _fault_path(entry: PlanEntry) -> str:
    return entry.key_path if entry.window is None else f"{entry.key_path}.fault"


def window_to_data(window: TimelineWindow) -> dict[str, Any]:
    """One timeline window as fault-file data."""
    data: dict[str, Any] = {"at_s": window.at_s}
    if window.for_s is not None:
        data["for_s"] = window.for_s
    data["fault"] = fault_to_data(window.fault)
    return data


def fault_to_data(fault: Fault) -> dict[str, Any]:
    """One fault as fault-file data, every parameter spelled out (``kind`` first)."""
    return {"kind": fault.kind, **fault_params(fault)}


def fault_params(fault: Fault) -> dict[str, Any]:
    """A fault's parameters as written in a fault file, without ``kind``.

    This is also the ``params`` column of the faults table (as JSON text).
    """
    if isinstance(fault, LatencyFault):
        return _latency_params(fault)
    params: dict[str, Any] = {}
    for field in fields(fault):
        value = getattr(fault, field.name)
        params[field.name] = list(value) if isinstance(value, tuple) else value
    if isinstance(fault, SlowStartFault) or (
        isinstance(fault, CrashFault) and fault.trigger == "window_start"
    ):
        del params["tools"]  # always empty: these faults hold or end the whole server
    return params


def _latency_params(fault: LatencyFault) -> dict[str, Any]:
    params: dict[str, Any]
    if fault.distribution == "pareto":
        params = {"distribution": "pareto", "min_s": fault.min_s, "alpha": fault.alpha, "max_s": fault.max_s}
    elif fault.distribution == "lognormal":
        params = {
            "distribution": "lognormal",
            "median_s": fault.median_s,
            "sigma": fault.sigma,
            "min_s": fault.min_s,
            "max_s": fault.max_s,
        }
    elif fault.min_s == fault.max_s:
        params = {"delay_s": fault.min_s}
    else:
        params = {"min_s": fault.min_s, "max_s": fault.max_s}
    params["probability"] = fault.probability
    params["tools"] = list(fault.tools)
    return params

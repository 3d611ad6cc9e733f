"""The fault model and the pure decision core of the fault layer.

A `FaultPlan` is an ordered tuple of faults, usually read from a fault file
(see `fault_file`). A `FaultInjector` turns the plan into one `FaultDecision`
per tool call; `apply_decision` carries a decision out (sleep, then raise).
Deciding is separated from doing so that tests can check decisions without an
event loop and record sleeps instead of sleeping.

Draw order (stable; changing it changes every seeded run):

for each call to `FaultInjector.decide(tool)`, for each fault in plan order
that targets `tool` (its `tools` is empty or contains `tool`):

1. one `rng.random()` draw; the fault fires when the draw is ``< probability``
   (so probability 0 never fires and 1 always fires, and the draw is made
   either way);
2. only when a latency fault fires and its delay is a range
   (``max_s > min_s``): one `rng.uniform(min_s, max_s)` draw.

Faults that do not target the tool make no draw. Delays of every firing
latency fault add up. The first firing error fault gives the error message;
later error faults still draw. The delay is served before the error is raised,
so a call can be both slow and failed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from mcp.server.fastmcp.exceptions import ToolError

from fault_servers.errors import FaultConfigError

DEFAULT_ERROR_MESSAGE: Final = "injected fault: error"


def _check_common(probability: float, tools: tuple[str, ...]) -> None:
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    if any(not name for name in tools):
        raise ValueError(f"tool names must be non-empty, got {tools!r}")


@dataclass(frozen=True)
class LatencyFault:
    """Delay a tool call by `min_s`..`max_s` seconds before the tool runs.

    A fixed delay (``delay_s`` in a fault file) has ``min_s == max_s``.
    `tools` empty means every tool. Raises ValueError on construction when a
    bound is negative, ``max_s < min_s`` or probability is outside [0, 1].
    """

    min_s: float
    max_s: float
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.min_s < 0 or self.max_s < self.min_s:
            raise ValueError(f"need 0 <= min_s <= max_s, got min_s={self.min_s!r} max_s={self.max_s!r}")
        _check_common(self.probability, self.tools)

    @property
    def kind(self) -> str:
        """The fault's kind as written in a fault file."""
        return "latency"


@dataclass(frozen=True)
class ErrorFault:
    """Make a tool call fail (the client sees ``isError=True`` and `message`).

    `tools` empty means every tool. Raises ValueError on construction when
    probability is outside [0, 1].
    """

    probability: float = 1.0
    message: str = DEFAULT_ERROR_MESSAGE
    tools: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_common(self.probability, self.tools)

    @property
    def kind(self) -> str:
        """The fault's kind as written in a fault file."""
        return "error"


Fault = LatencyFault | ErrorFault


def targets(fault: Fault, tool: str) -> bool:
    """Whether `fault` applies to calls of `tool` (an empty `tools` targets all)."""
    return not fault.tools or tool in fault.tools


@dataclass(frozen=True)
class FaultPlan:
    """The faults of one server process, in the order their draws are made.

    `source` says where the plan came from (a file path, or a label for
    plans built in code) so later errors about it can name it.
    """

    faults: tuple[Fault, ...] = ()
    source: str = "<inline>"

    def check_tool_names(self, known: frozenset[str]) -> None:
        """Fail when a fault names a tool outside `known` (a typo would silently never fire).

        Raises FaultConfigError naming the key path, e.g. ``faults[0].tools[1]``.
        """
        for i, fault in enumerate(self.faults):
            for j, name in enumerate(fault.tools):
                if name not in known:
                    raise FaultConfigError(
                        self.source,
                        f"faults[{i}].tools[{j}]",
                        f"unknown tool {name!r}; expected one of {', '.join(sorted(known))}",
                    )


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one tool call: wait `delay_s` seconds, then fail with `error` unless it is None."""

    delay_s: float = 0.0
    error: str | None = None

    @property
    def is_noop(self) -> bool:
        """True when the call runs untouched."""
        return self.delay_s == 0.0 and self.error is None


NO_FAULT: Final = FaultDecision()


class FaultInjector:
    """Decides, call by call, which faults of a plan hit a tool call.

    Deterministic for a given plan, rng seed and sequence of `decide` calls; the
    draw order is documented in the module docstring. Holds no clock and does
    no I/O, so it is safe to call from async code without awaiting.
    """

    def __init__(self, plan: FaultPlan, rng: random.Random) -> None:
        self._plan = plan
        self._rng = rng

    @property
    def plan(self) -> FaultPlan:
        """The plan this injector draws from."""
        return self._plan

    def decide(self, tool: str) -> FaultDecision:
        """Return the faults for one call of `tool`, advancing the rng as documented."""
        delay_s = 0.0
        error: str | None = None
        for fault in self._plan.faults:
            if not targets(fault, tool):
                continue
            fires = self._rng.random() < fault.probability
            if not fires:
                continue
            if isinstance(fault, LatencyFault):
                if fault.max_s > fault.min_s:
                    delay_s += self._rng.uniform(fault.min_s, fault.max_s)
                else:
                    delay_s += fault.min_s
            elif error is None:
                error = fault.message
        if delay_s == 0.0 and error is None:
            return NO_FAULT
        return FaultDecision(delay_s=delay_s, error=error)


class InjectedFaultError(ToolError):
    """A tool call failed on purpose; FastMCP reports it as ``isError=True``."""


Sleep = Callable[[float], Awaitable[object]]


async def apply_decision(decision: FaultDecision, *, sleep: Sleep = asyncio.sleep) -> None:
    """Carry out `decision`: await ``sleep(delay_s)`` when there is a delay, then fail if asked.

    Raises InjectedFaultError (a FastMCP ToolError) carrying the decision's
    error message, which the client receives as the text of an ``isError=True``
    result.
    """
    if decision.delay_s > 0.0:
        await sleep(decision.delay_s)
    if decision.error is not None:
        raise InjectedFaultError(decision.error)

"""Deciding, call by call and request by request, which faults hit; carrying them out is elsewhere.

A `FaultInjector` holds a plan on the wall clock (`Schedule`) and three kinds
of seeded randomness. Given the same plan, seed, run start and sequence of
(time, call), it returns the same decisions in any process.

Draw order (stable; changing it changes every seeded run). "Active" means
active at the clock's ``now``; entries are visited in plan order (static
``faults`` in file order, then ``timeline`` windows in file order):

- ``decide(tool)`` (call layer; stream ``random.Random(seed)``): for each
  active call-layer fault that targets `tool`, one ``random()`` draw; it fires
  when the draw is ``< probability`` (the draw is made either way). Only when a
  latency fault fires: one more draw for its delay: ``uniform(min_s, max_s)``
  when ``max_s > min_s`` (none when fixed), ``paretovariate(alpha)`` or
  ``lognormvariate(ln(median_s), sigma)``.
- ``decide_request(tool)`` (transport layer; stream
  ``random.Random(f"{seed}:transport")``): for each active transport-layer
  fault that targets the request (a flapping fault only while in a down
  phase), one ``random()`` draw, firing when ``< probability``.
- Lifecycle (slow_start at process start, crash with ``trigger:
  window_start``): one ``random()`` draw per plan entry from
  ``random.Random(f"{seed}:{key_path}")``, made once per process, so every
  process with the same seed makes the same choice.

Faults that are inactive or do not target the call make no draw. Delays of
firing latency faults add up; of several firing errors the first (in draw
order) gives the message or code.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from fault_servers.model.kinds import (
    CrashFault,
    DropMidResponseFault,
    ErrorFault,
    FlappingFault,
    HangFault,
    HttpStatusFault,
    JsonRpcErrorFault,
    LatencyFault,
    MalformedFault,
    OversizedFault,
    SlowStartFault,
    targets,
)
from fault_servers.model.plan import FaultPlan, PlanEntry
from fault_servers.model.timeline import Schedule, flapping_down_for_s

Clock = Callable[[], float]


@dataclass(frozen=True)
class JsonRpcError:
    """A JSON-RPC error to answer with instead of a result."""

    code: int
    message: str


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one tool call, in this order: wait `delay_s`; then exit with
    `crash_exit_code`; hang; answer `jsonrpc_error`; answer ``isError`` with
    `error`; answer a result of the wrong shape; or run the tool and pad its
    result with `oversized_bytes` characters.
    """

    delay_s: float = 0.0
    error: str | None = None
    jsonrpc_error: JsonRpcError | None = None
    hang: bool = False
    crash_exit_code: int | None = None
    wrong_shape: bool = False
    oversized_bytes: int = 0

    @property
    def is_noop(self) -> bool:
        """True when the call runs untouched."""
        return self == NO_FAULT


NO_FAULT: Final = FaultDecision()


@dataclass(frozen=True)
class Refusal:
    """Refuse a request: HTTP answers `status` with ``Retry-After: retry_after_s``; stdio a JSON-RPC error."""

    status: int
    retry_after_s: int
    reason: str


@dataclass(frozen=True)
class TransportDecision:
    """What to do to one JSON-RPC request on the wire: refuse it, or mangle its response."""

    refusal: Refusal | None = None
    not_json: bool = False
    drop: bool = False

    @property
    def is_noop(self) -> bool:
        """True when the request passes untouched."""
        return self == NO_TRANSPORT_FAULT


NO_TRANSPORT_FAULT: Final = TransportDecision()


class FaultInjector:
    """Decides which faults of a plan hit each call, from the clock and seeded streams.

    `rng` is the call-layer stream. `transport_rng` and `lifecycle_seed`
    default to values derived from `rng`'s initial state; `seeded` builds all
    three from one seed as documented above. `run_start_s` (default: the
    clock at construction) is where timeline offsets count from. Holds no I/O,
    so it is safe to call from async code without awaiting.
    """

    def __init__(
        self,
        plan: FaultPlan,
        rng: random.Random,
        *,
        transport_rng: random.Random | None = None,
        lifecycle_seed: str | None = None,
        clock: Clock = time.time,
        run_start_s: float | None = None,
    ) -> None:
        state = repr(rng.getstate())
        self._rng = rng
        self._transport_rng = transport_rng or random.Random(f"transport:{state}")
        self._lifecycle_seed = lifecycle_seed if lifecycle_seed is not None else f"lifecycle:{state}"
        self._clock = clock
        now = clock()
        self._run_start_s = now if run_start_s is None else run_start_s
        self._schedule = Schedule(plan, self._run_start_s, installed_at=now)
        self._lifecycle_draws: dict[str, bool] = {}

    @classmethod
    def seeded(
        cls, plan: FaultPlan, seed: int, *, clock: Clock = time.time, run_start_s: float | None = None
    ) -> FaultInjector:
        """An injector whose three streams come from `seed` as the module docstring documents."""
        return cls(
            plan,
            random.Random(seed),
            transport_rng=random.Random(f"{seed}:transport"),
            lifecycle_seed=str(seed),
            clock=clock,
            run_start_s=run_start_s,
        )

    @property
    def plan(self) -> FaultPlan:
        """The plan this injector draws from."""
        return self._schedule.plan

    @property
    def schedule(self) -> Schedule:
        """The plan on the wall clock."""
        return self._schedule

    @property
    def run_start_s(self) -> float:
        """Unix time the timeline offsets count from."""
        return self._run_start_s

    def now(self) -> float:
        """The injector's clock."""
        return self._clock()

    def replace_plan(self, plan: FaultPlan) -> Schedule:
        """Install `plan` from now on (a live change); the draw streams carry on. Returns the new schedule."""
        self._schedule = Schedule(plan, self._run_start_s, installed_at=self._clock())
        self._lifecycle_draws = {}
        return self._schedule

    def decide(self, tool: str) -> FaultDecision:
        """The call-layer faults for one call of `tool`, advancing the call stream as documented."""
        delay_s = 0.0
        error: str | None = None
        jsonrpc_error: JsonRpcError | None = None
        crash_exit_code: int | None = None
        hang = wrong_shape = False
        oversized_bytes = 0
        for active in self._schedule.active(self._clock()):
            fault = active.fault
            if fault.layer != "call" or not targets(fault, tool):
                continue
            if not self._rng.random() < fault.probability:
                continue
            if isinstance(fault, LatencyFault):
                delay_s += self._delay_s(fault)
            elif isinstance(fault, ErrorFault):
                error = error if error is not None else fault.message
            elif isinstance(fault, JsonRpcErrorFault):
                jsonrpc_error = jsonrpc_error or JsonRpcError(fault.code, fault.message)
            elif isinstance(fault, HangFault):
                hang = True
            elif isinstance(fault, CrashFault):
                crash_exit_code = crash_exit_code if crash_exit_code is not None else fault.exit_code
            elif isinstance(fault, MalformedFault):
                wrong_shape = True
            elif isinstance(fault, OversizedFault):
                oversized_bytes = max(oversized_bytes, fault.size_bytes)
        decision = FaultDecision(
            delay_s, error, jsonrpc_error, hang, crash_exit_code, wrong_shape, oversized_bytes
        )
        return NO_FAULT if decision == NO_FAULT else decision

    def _delay_s(self, fault: LatencyFault) -> float:
        if fault.distribution == "pareto":
            return min(fault.min_s * self._rng.paretovariate(fault.alpha), fault.max_s)
        if fault.distribution == "lognormal":
            drawn = self._rng.lognormvariate(math.log(fault.median_s), fault.sigma)
            return min(max(drawn, fault.min_s), fault.max_s)
        if fault.max_s > fault.min_s:
            return self._rng.uniform(fault.min_s, fault.max_s)
        return fault.min_s

    def decide_request(self, tool: str | None) -> TransportDecision:
        """The transport-layer faults for one JSON-RPC request (`tool` None: not a tool call)."""
        now = self._clock()
        refusal: Refusal | None = None
        not_json = drop = False
        for active in self._schedule.active(now):
            fault = active.fault
            if fault.layer != "transport" or not targets(fault, tool):
                continue
            down_for_s = None
            if isinstance(fault, FlappingFault):
                down_for_s = flapping_down_for_s(fault, active.anchor, now)
                if down_for_s is None:
                    continue
            if not self._transport_rng.random() < fault.probability:
                continue
            if isinstance(fault, FlappingFault) and down_for_s is not None:
                retry_after_s = max(1, math.ceil(down_for_s))
                refusal = refusal or Refusal(503, retry_after_s, "flapping")
            elif isinstance(fault, HttpStatusFault):
                refusal = refusal or Refusal(fault.status, fault.retry_after_s, "http_status")
            elif isinstance(fault, DropMidResponseFault):
                drop = True
            elif isinstance(fault, MalformedFault):
                not_json = True
        decision = TransportDecision(refusal, not_json, drop)
        return NO_TRANSPORT_FAULT if decision == NO_TRANSPORT_FAULT else decision

    def startup_delay_s(self) -> float:
        """How long a process starting now holds its requests: firing slow_start faults active now, added."""
        now = self._clock()
        delay_s = 0.0
        for entry in self._schedule.entries:
            start, end = self._schedule.span(entry)
            fault = entry.fault
            if isinstance(fault, SlowStartFault) and start <= now < end and self._lifecycle_fires(entry):
                delay_s += fault.delay_s
        return delay_s

    def crash_due(self) -> tuple[PlanEntry, CrashFault] | None:
        """The first ``trigger: window_start`` crash whose window opened during this plan's life, or
        was already open when the plan was installed, and whose lifecycle draw fires; else None.
        """
        now = self._clock()
        installed_at = self._schedule.installed_at
        for entry in self._schedule.entries:
            fault = entry.fault
            if not isinstance(fault, CrashFault) or fault.trigger != "window_start":
                continue
            start, end = self._schedule.span(entry)
            if (
                start <= now
                and (start >= installed_at or end > installed_at)
                and self._lifecycle_fires(entry)
            ):
                return entry, fault
        return None

    def _lifecycle_fires(self, entry: PlanEntry) -> bool:
        if entry.key_path not in self._lifecycle_draws:
            draw = random.Random(f"{self._lifecycle_seed}:{entry.key_path}").random()
            self._lifecycle_draws[entry.key_path] = draw < entry.fault.probability
        return self._lifecycle_draws[entry.key_path]

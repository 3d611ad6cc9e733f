"""The live fault state of one server process: the injector, the applied windows, start and stop.

`FaultRuntime` is what the transports (call layer, HTTP middleware, stdio
loop) and the control endpoint share. It owns the `FaultInjector` (plan on the
wall clock, seeded streams) and the `WindowTracker` whose rows go to the
`FaultEventLog`. Its ticker wakes at every window boundary to report windows
that ended and to carry out ``trigger: window_start`` crashes; decisions
themselves read the clock directly, so they do not depend on the ticker's
punctuality. Clock, sleep and exit are injected for tests.
"""

from __future__ import annotations

import math
from typing import Any, Final, NoReturn

import anyio

from fault_servers.events import FaultEventLog
from fault_servers.faults import Exit, Sleep, exit_process
from fault_servers.model import AppliedWindow, FaultInjector, FaultPlan, WindowTracker

MAX_TICK_S: Final = 60.0
"""The ticker re-checks at least this often, so a clock step never leaves it asleep for long."""


class FaultRuntime:
    """Live faults for one server process named `target` that serves `tool_names` over `transport`.

    Computes the slow-start delay once, at construction (the process start).
    """

    def __init__(
        self,
        injector: FaultInjector,
        *,
        target: str,
        tool_names: frozenset[str],
        transport: str,
        events: FaultEventLog,
        sleep: Sleep = anyio.sleep,
        exit: Exit = exit_process,
    ) -> None:
        self.injector = injector
        self.target = target
        self.tool_names = tool_names
        self.transport = transport
        self.sleep = sleep
        self._events = events
        self._exit = exit
        self._tracker = WindowTracker(injector.schedule)
        self._changed: anyio.Event | None = None
        self._stopped = False
        self.started_at = injector.now()
        self.ready_at = self.started_at + injector.startup_delay_s()

    def start(self) -> None:
        """Apply what is due at start: report windows already over, crash if a crash window is open."""
        self.tick()

    def tick(self) -> None:
        """Carry out a due ``window_start`` crash, then report the windows that have ended."""
        due = self.injector.crash_due()
        if due is not None:
            self.crash(due[1].exit_code)
        self._events.write(self._tracker.sync(self.injector.now()))

    async def run_ticker(self) -> None:
        """Tick at every window boundary (and when the plan changes) until cancelled."""
        while True:
            self.tick()
            self._changed = anyio.Event()
            now = self.injector.now()
            boundary = self.injector.schedule.next_boundary(now)
            wait_s = MAX_TICK_S if boundary is None else min(MAX_TICK_S, max(boundary - now, 0.001))
            with anyio.move_on_after(wait_s):
                await self._changed.wait()

    def remaining_start_s(self) -> float:
        """Seconds until the server answers (slow_start); 0 once it does."""
        return max(0.0, self.ready_at - self.injector.now())

    async def wait_ready(self) -> None:
        """Return once the slow-start delay has passed."""
        remaining_s = self.remaining_start_s()
        if remaining_s > 0:
            await self.sleep(remaining_s)

    def replace_plan(self, plan: FaultPlan) -> None:
        """Install `plan` from now on: windows of the old plan end now, the new plan's begin.

        The ticker carries out what the new plan makes due (a ``window_start``
        crash happens at once, possibly before the caller hears back).
        Raises FaultConfigError when `plan` names an unknown tool or a kind the
        transport cannot carry out; the old plan then stays.
        """
        plan.check_tool_names(self.tool_names)
        plan.check_transport(self.transport)
        self._events.write(self._tracker.close_all(self.injector.now()))
        self._tracker = WindowTracker(self.injector.replace_plan(plan))
        if self._changed is not None:
            self._changed.set()

    def crash(self, exit_code: int) -> NoReturn:
        """Report every window as ending now, then end the process with `exit_code`."""
        self.stop()
        self._exit(exit_code)
        raise SystemExit(exit_code)  # only reached when a test's exit returns

    def stop(self) -> None:
        """Report every window as ending now and close the log; later calls do nothing."""
        if self._stopped:
            return
        self._stopped = True
        self._events.write(self._tracker.close_all(self.injector.now()))
        self._events.close()

    def state(self) -> dict[str, Any]:
        """The live plan and its open windows, JSON-ready (``GET /control/faults``)."""
        now = self.injector.now()
        plan = self.injector.plan
        return {
            "target": self.target,
            "transport": self.transport,
            "now": now,
            "run_start": self.injector.run_start_s,
            "ready": self.remaining_start_s() == 0,
            "source": plan.source,
            "plan": plan.to_data(),
            "active": [_window_json(window) for window in self._tracker.open_windows(now)],
        }


def _window_json(window: AppliedWindow) -> dict[str, Any]:
    return {
        "window": window.key_path,
        "kind": window.kind,
        "params": window.params,
        "t_start": window.t_start,
        "t_end": None if math.isinf(window.t_end) else window.t_end,
    }

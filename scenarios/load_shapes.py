"""The Locust load shape that plays the scenario's load (run by the master or the local process).

Closed model: the stages of ``load.effective_stages()`` (a plain run, ramp, step, spike,
soak and a capacity search's steps are all stage lists), via ``harness.loadmodel.closed_tick``.
Open model: ``max_sessions`` slot users for the whole run, spawned fast
(``open_slot_spawn_rate``); the test ends ``duration_s`` after arrivals started (when this
process saw the slots all spawned), via ``harness.loadmodel.open_tick``.

Locust's own semantics apply: the shape is asked about once a second; returning ``None``
stops the test (and, headless, quits Locust). In distributed mode the master's ramp to a
stage blocks the shape until it is done (Locust's documented limitation), so a stage whose
ramp outlasts it delays the next one.
"""

from __future__ import annotations

import time

from locust import LoadTestShape

from harness.loadmodel import ShapeTick, closed_tick, open_tick
from scenarios.load_runtime import STATE

__all__ = ["ChaosbenchShape"]


class ChaosbenchShape(LoadTestShape):
    """The scenario's load as a shape; ``last`` is what it asked for most recently."""

    # Without a settings file there is no scenario load: Locust's --users/--run-time apply.
    abstract = STATE.settings is None

    #: Arrivals start at most this long after the shape started, even if Locust never
    #: reported the slots all spawned (the dispatcher uses the same bound).
    SLOTS_READY_TIMEOUT_S = 60.0

    def __init__(self) -> None:
        super().__init__()
        self.last: ShapeTick | None = None

    def tick(self) -> tuple[int, float] | None:
        load = STATE.load
        if load.model == "open":
            started = STATE.arrivals_started_at
            if started is None and self.get_run_time() > self.SLOTS_READY_TIMEOUT_S:
                started = STATE.arrivals_started_at = time.time()
            tick = open_tick(load, None if started is None else time.time() - started)
        else:
            tick = closed_tick(STATE.stages, self.get_run_time())
        self.last = tick
        return None if tick is None else tick.as_locust()

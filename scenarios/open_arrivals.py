"""The open model's arrivals in one Locust process: a dispatcher greenlet feeding session slots.

The process's slots are Locust users (``OpenSlotUser`` in ``locust_agent``): each takes an
admitted arrival from :attr:`LoadState.arrivals`, plays the session, and takes the next.
The dispatcher follows the process's arrival schedule (``harness.loadmodel.arrival_offsets``)
on the wall clock, from the moment the process's slots are all spawned. An arrival that
finds every slot busy (``SlotBook.offer`` refuses) is not started: it becomes one
``requests`` row, ``dropped`` with ``drop_reason`` ``not_started``, ``t_intended`` its arrival
time and ``t_start`` when it was refused. When the run stops, arrivals admitted but not yet
taken by a slot are written as ``dropped``/``cut_short`` rows: nothing issued goes unrecorded.

A late dispatcher (a saturated process) makes arrivals late: each keeps its scheduled time
as ``t_intended``, so the lateness shows in the coordinated-omission figures (arrivals still
pending when the run stops are never issued, so they are not rows).
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable

import gevent
from gevent.queue import Empty

from harness.loadmodel import SessionPlan, arrival_offsets, arrival_plan, worker_index
from scenarios.load_runtime import Arrival, LoadState, request_row

__all__ = ["ArrivalDispatcher"]


class ArrivalDispatcher:
    """Plays this process's share of the open model's arrivals (module docstring).

    ``slots_ready_timeout_s`` bounds the wait for the slots to be spawned: arrivals start then
    even if Locust never said spawning was complete.
    """

    def __init__(
        self,
        state: LoadState,
        *,
        slots_ready_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert state.settings is not None and state.load.model == "open"
        self._state = state
        self._ready_timeout_s = slots_ready_timeout_s
        self._clock = clock
        self._greenlet: gevent.Greenlet | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self._greenlet = gevent.spawn(self._run)

    def stop(self) -> None:
        """Stop arriving; record the admitted arrivals no slot has taken as ``cut_short``."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
        now = self._clock()
        while True:
            try:
                arrival: Arrival = self._state.arrivals.get_nowait()
            except Empty:
                break
            self._state.book.abandon()
            self._record(
                arrival.plan, arrival.t, now, "cut_short", "the run ended before the session started"
            )

    def _run(self) -> None:
        state = self._state
        assert state.settings is not None
        state.slots_ready.wait(timeout=self._ready_timeout_s)
        if state.arrivals_started_at is None:
            state.arrivals_started_at = self._clock()
        origin = state.arrivals_started_at
        plan = arrival_plan(state.load, state.settings.processes, worker_index(state.worker))
        rng = random.Random(f"{state.seed}:{state.worker}:arrivals")
        for offset in arrival_offsets(plan, rng):
            due = origin + offset
            delay_s = due - self._clock()
            if delay_s > 0:
                gevent.sleep(delay_s)
            session = state.next_session()
            if state.book.offer():
                state.arrivals.put(Arrival(session, due))
            else:
                self._record(
                    session,
                    due,
                    max(self._clock(), due),  # a timer may wake a hair early: never dropped before arriving
                    "not_started",
                    f"no free session slot ({state.book.slots} in this process, all busy)",
                )

    def _record(self, plan: SessionPlan, t_intended: float, t_start: float, reason: str, error: str) -> None:
        row = request_row(self._state, plan, 0, uuid.uuid4().hex, t_start, t_intended)
        row["drop_reason"], row["error"] = reason, error
        self._state.requests.write(row)

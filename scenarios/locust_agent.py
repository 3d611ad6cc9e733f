"""Locust user classes that play simulated agent sessions against the gateway.

Run by the orchestrator as ``locust -f scenarios/locust_agent.py --headless ...`` in
processes of their own (locust monkey-patches the process with gevent): one local process,
or a master and workers (Locust's distributed mode; the master runs no users). Settings come
from the JSON file named by ``CHAOSBENCH_LOCUST_CONFIG`` (``harness.loadsettings``, contract
C1) and the process's name from ``CHAOSBENCH_WORKER``. The load shape is
``scenarios.load_shapes.ChaosbenchShape``; the files every process writes are described in
``scenarios.load_runtime``.

Sessions: a simulated user plays a session of ``turns`` turns (its type, turns and think
times from ``harness.loadmodel.plan_session``), each turn one
``POST /v1/sessions/{session_id}/messages`` with ``{"message", "turn", "servers"?}`` and the
headers ``X-Request-ID`` and ``X-Chaosbench-Role`` (and, with auth on, ``Authorization: Bearer``
with the session's token: valid for its role, or the forgery its type's ``token`` names), then
starts a new session.

- Closed model (``ClosedSessionUser``): users loop over sessions; the think time after a
  session's last turn is the pause before the next. ``t_intended`` = ``t_start``.
- Open model (``OpenSlotUser``): each user is a session slot fed by
  ``scenarios.open_arrivals.ArrivalDispatcher``. The first turn's ``t_intended`` is the
  session's arrival time, a later turn's is the previous turn's end plus the think time.

Every request a user issues becomes exactly one row of the ``requests`` table, written by the
user itself in a ``finally`` rather than from Locust's request event, so a request cut short by
the end of the run (its greenlet killed) is still recorded: ``dropped``, ``drop_reason``
``cut_short``. Rows carry ``session_type``, ``role``, ``turn`` and ``drop_reason`` besides the
documented columns.

Locust's own ``<csv_prefix>_stats.csv`` is rewritten once more when Locust quits (master or
local process): its periodic writer runs every second, so its last snapshot can miss the
final second of requests.
"""

from __future__ import annotations

import csv
import os
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.queue import Empty
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from harness.loadmodel import SessionPlan
from scenarios.load_runtime import (
    REQUEST_NAME,
    STATE,
    Arrival,
    StatusReporter,
    request_row,
    write_json_atomically,
)
from scenarios.load_shapes import ChaosbenchShape
from scenarios.open_arrivals import ArrivalDispatcher

__all__ = ["REQUEST_NAME", "ChaosbenchShape", "ClosedSessionUser", "OpenSlotUser"]

ROLE_HEADER = "X-Chaosbench-Role"
#: How long an idle slot waits for an arrival before it lets Locust check whether to stop.
SLOT_POLL_S = 1.0

_environment: Environment | None = None
_reporter: StatusReporter | None = None
_dispatcher: ArrivalDispatcher | None = None


def _runs_users(environment: Environment) -> bool:
    return not isinstance(environment.runner, MasterRunner)


def _shape_target() -> tuple[int, int] | None:
    shape = _environment.shape_class if _environment is not None else None
    last = getattr(shape, "last", None)
    return None if last is None else (last.users, last.stage)


@events.init.add_listener
def _on_init(environment: Environment, **_kwargs: Any) -> None:
    global _environment, _reporter, _dispatcher
    _environment = environment
    if STATE.settings is None:
        return
    # The scenario's stop timeout, whatever the command line says (the master sends it to workers).
    environment.stop_timeout = STATE.load.stop_timeout_s
    runs_users = _runs_users(environment)
    _reporter = StatusReporter(
        STATE,
        runs_users=runs_users,
        runs_shape=not isinstance(environment.runner, WorkerRunner),
        user_count=lambda: environment.runner.user_count if environment.runner is not None else 0,
        shape_target=_shape_target,
    )
    _reporter.start()
    if STATE.load.model == "open" and runs_users:
        _dispatcher = ArrivalDispatcher(STATE, slots_ready_timeout_s=ChaosbenchShape.SLOTS_READY_TIMEOUT_S)


@events.test_start.add_listener
def _on_test_start(**_kwargs: Any) -> None:
    if STATE.test_started_at is None:
        STATE.test_started_at = time.time()
    if _dispatcher is not None:
        _dispatcher.start()


@events.spawning_complete.add_listener
def _on_spawning_complete(**_kwargs: Any) -> None:
    if STATE.load.model == "open" and not STATE.slots_ready.is_set():
        if STATE.arrivals_started_at is None:
            STATE.arrivals_started_at = time.time()
        STATE.slots_ready.set()


@events.test_stopping.add_listener
def _on_test_stopping(**_kwargs: Any) -> None:
    if _dispatcher is not None:
        _dispatcher.stop()


@events.quit.add_listener
def _on_quit(**_kwargs: Any) -> None:
    # ``quit`` fires after the runner stopped every user (``quitting`` fires before), so every
    # row a stopped user writes in its ``finally`` is in before the file is closed.
    if _dispatcher is not None:
        _dispatcher.stop()
    if _reporter is not None:
        _reporter.stop()
    STATE.requests.close()
    if STATE.settings is not None:
        write_json_atomically(
            STATE.settings.runtime_dir / f"issued.{STATE.worker_id}.json",
            {"worker": STATE.worker_id, "issued": STATE.requests.issued},
        )
    _write_final_stats_csv()


def _write_final_stats_csv() -> None:
    prefix = STATE.settings.csv_prefix if STATE.settings is not None else None
    if not prefix or _environment is None or isinstance(_environment.runner, WorkerRunner):
        return
    path = Path(f"{prefix}_stats.csv")
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        StatsCSV(_environment, PERCENTILES_TO_REPORT).requests_csv(csv.writer(f))
    os.replace(tmp, path)


def _is_timeout(error: BaseException | None) -> bool:
    if error is None:
        return False
    return isinstance(error, TimeoutError | gevent.Timeout) or "timed out" in str(error).lower()


class _SessionUser(FastHttpUser):
    """What both models' users share: one turn as one request, and its ``requests`` row."""

    abstract = True
    network_timeout = STATE.load.request_timeout_s
    connection_timeout = STATE.settings.connect_timeout_s if STATE.settings is not None else 5.0

    _think_s = 0.0

    def wait_time(self) -> float:
        return self._think_s

    _auth: dict[str, str] = {}  # noqa: RUF012 - replaced per session, never mutated

    def start_session(self, plan: SessionPlan) -> None:
        """Mint the session's token (auth on): one per session, presented on every turn."""
        self._auth = STATE.authorization(plan)

    def play_turn(self, plan: SessionPlan, turn: int, t_intended: float | None) -> None:
        """Send one turn; its row is written whatever happens (``cut_short`` if killed mid-request)."""
        request_id = uuid.uuid4().hex
        t_start = time.time()
        # A timer can wake a hair before its time on the wall clock: a turn is never early.
        row = request_row(
            STATE,
            plan,
            turn,
            request_id,
            t_start,
            t_start if t_intended is None else min(t_intended, t_start),
        )
        body: dict[str, Any] = {"message": f"turn {turn}", "turn": turn}
        if plan.session_type.servers:
            body["servers"] = list(plan.session_type.servers)
        started = time.perf_counter()
        try:
            with self.client.post(
                f"/v1/sessions/{plan.session_id}/messages",
                json=body,
                headers={"X-Request-ID": request_id, ROLE_HEADER: plan.session_type.role, **self._auth},
                name=REQUEST_NAME,
                catch_response=True,
            ) as response:
                row["latency_s"] = time.perf_counter() - started
                row["status"] = int(response.status_code or 0)
                row["drop_reason"] = ""
                error = getattr(response, "error", None)
                if 200 <= row["status"] < 300:
                    row["outcome"], row["error"] = "ok", ""
                else:
                    row["outcome"] = "timeout" if _is_timeout(error) else "error"
                    row["error"] = str(error or response.text or "")[:300]
                    response.failure(row["error"] or f"HTTP {row['status']}")
        except GreenletExit:
            raise
        except Exception as exc:  # recorded as this request's error, then re-raised to Locust
            row["outcome"], row["drop_reason"] = "error", ""
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
            row["latency_s"] = time.perf_counter() - started
            raise
        finally:
            if row["drop_reason"] == "cut_short":
                row["latency_s"] = time.perf_counter() - started
            STATE.requests.write(row)


class ClosedSessionUser(_SessionUser):
    """Closed model: one simulated user playing one session after another."""

    abstract = STATE.load.model != "closed"

    def on_start(self) -> None:
        self._plan: SessionPlan | None = None
        self._turn = 0

    def on_stop(self) -> None:
        if self._plan is not None:
            STATE.in_session -= 1
            self._plan = None

    @task
    def agent_turn(self) -> None:
        if self._plan is None:
            self._plan, self._turn = STATE.next_session(), 0
            self.start_session(self._plan)
            STATE.in_session += 1
        plan = self._plan
        self.play_turn(plan, self._turn, None)
        self._think_s = plan.think_s[self._turn]
        self._turn += 1
        if self._turn >= plan.turns:
            self._plan = None
            STATE.in_session -= 1


class OpenSlotUser(_SessionUser):
    """Open model: one session slot, playing the arrivals the dispatcher admits."""

    abstract = STATE.load.model != "open"

    def on_start(self) -> None:
        self._arrival: Arrival | None = None
        self._turn = 0
        self._intended = 0.0
        STATE.book.add_slot()

    def on_stop(self) -> None:
        if self._arrival is not None:
            STATE.book.release()
            self._arrival = None
        STATE.book.remove_slot()

    @task
    def session_step(self) -> None:
        if self._arrival is None:
            self._think_s = 0.0
            try:
                arrival: Arrival = STATE.arrivals.get(timeout=SLOT_POLL_S)
            except Empty:
                return
            STATE.book.take()
            self._arrival, self._turn, self._intended = arrival, 0, arrival.t
            self.start_session(arrival.plan)
        plan = self._arrival.plan
        self.play_turn(plan, self._turn, self._intended)
        self._turn += 1
        if self._turn < plan.turns:
            self._think_s = plan.think_s[self._turn - 1]
            self._intended = time.time() + self._think_s
        else:
            self._arrival, self._think_s = None, 0.0
            STATE.book.release()

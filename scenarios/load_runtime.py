"""The state one Locust process keeps while it plays a load, and the files it writes about it.

Loaded only inside a Locust process (it uses gevent). One :class:`LoadState` per
process, :data:`STATE`, built from the settings file (``harness.loadsettings``, contract
C1) at import. Files (contract C2), ``<id>`` being ``<worker>-<pid>``:

- ``events/requests.<id>.jsonl``: one row per request (:class:`RequestLog`).
- ``events/samples.<id>.jsonl``: about once a second. A process running users writes
  ``{"t", "process": "locust-<worker>", "worker": <id>, "locust_users", "sessions_in_flight",
  "requests_total", "dropped_total", "stage"}``; the master writes ``{"t", "process":
  "locust-master", "worker", "target_users", "stage"}`` (no user counts: it runs none, and
  summing over processes must not count the workers' users twice); a local process writes
  one row with both (``"process": "locust-local"``).
- ``runtime/locust-status.<id>.json``: the same figures, rewritten atomically about once a
  second, all keys always present (the master's user counts are 0; ``target_users`` is
  ``null`` in workers, which do not run the shape).
- With ``auth`` on in the settings, each session presents one token, minted when it starts
  (:meth:`LoadState.authorization`, :mod:`harness.auth.session_tokens`).
- ``runtime/issued.<id>.json`` at quit: ``{"worker": <id>, "issued": N}``, N = every request
  row this process wrote (dropped ones included).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
from gevent.event import Event
from gevent.queue import Queue

from harness.auth.session_tokens import SessionTokens, session_tokens_from
from harness.events import EventSink, EventWriter, NullEventWriter
from harness.loadmodel import SessionPlan, SlotBook, closed_tick, plan_session
from harness.loadsettings import LOCUST_CONFIG_ENV, LOCUST_WORKER_ENV, LocustSettings, read_locust_settings
from harness.scenario import LoadConfig, Stage

__all__ = [
    "REQUEST_NAME",
    "STATE",
    "Arrival",
    "LoadState",
    "RequestLog",
    "StatusReporter",
    "request_row",
    "write_json_atomically",
]

REQUEST_NAME = "agent_turn"


class RequestLog:
    """The ``requests`` rows of this process, counted as they are written."""

    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self.issued = 0
        self.dropped = 0

    def write(self, row: Mapping[str, Any]) -> None:
        self._sink.write(row)
        self.issued += 1
        if row.get("outcome") == "dropped":
            self.dropped += 1

    def close(self) -> None:
        self._sink.close()


@dataclass(frozen=True)
class Arrival:
    """An open-model session admitted to a slot: its plan and when it arrived (epoch seconds)."""

    plan: SessionPlan
    t: float


@dataclass
class LoadState:
    """Everything one Locust process knows about the load it plays."""

    settings: LocustSettings | None
    worker: str  # CHAOSBENCH_WORKER: local, master, w1, ...
    pid: int
    requests: RequestLog
    load: LoadConfig
    stages: list[Stage]
    in_session: int = 0  # closed model: users inside a session
    book: SlotBook = field(default_factory=SlotBook)  # open model: slots
    arrivals: Queue = field(default_factory=Queue)
    slots_ready: Event = field(default_factory=Event)
    test_started_at: float | None = None
    arrivals_started_at: float | None = None
    tokens: SessionTokens | None = None  # auth on: mints each session's token
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def worker_id(self) -> str:
        """This process in file names and the ``worker`` column: ``<worker>-<pid>``."""
        return f"{self.worker}-{self.pid}"

    @property
    def seed(self) -> int:
        return self.settings.seed if self.settings is not None else 0

    def next_session(self) -> SessionPlan:
        """The plan of this process's next session."""
        return plan_session(self.load, self.seed, self.worker, next(self._numbers))

    def authorization(self, plan: SessionPlan) -> dict[str, str]:
        """The ``Authorization`` header of a session (none when auth is off or its token is ``none``):
        a token for its type's role, valid or the forgery its ``token`` names."""
        if self.tokens is None:
            return {}
        kind = plan.session_type.token
        token = self.tokens.token(kind, plan.session_type.role, plan.session_id)
        return {} if token is None else {"Authorization": f"Bearer {token}"}

    def sessions_in_flight(self) -> int:
        return self.book.busy if self.load.model == "open" else self.in_session

    def stage_now(self, now: float) -> int:
        """The closed-model stage this process is in by its own clock (-1 outside the stages or open)."""
        if self.load.model == "open" or self.test_started_at is None:
            return -1
        tick = closed_tick(self.stages, now - self.test_started_at)
        return -1 if tick is None else tick.stage


def request_row(
    state: LoadState, plan: SessionPlan, turn: int, request_id: str, t_start: float, t_intended: float
) -> dict[str, Any]:
    """A ``requests`` row for one turn, as it stands before the turn ends: ``dropped``/``cut_short``
    (the caller overwrites the outcome when the turn ends normally)."""
    return {
        "t_start": t_start,
        "t_intended": t_intended,
        "latency_s": 0.0,
        "session_id": plan.session_id,
        "name": REQUEST_NAME,
        "outcome": "dropped",
        "status": 0,
        "worker": state.worker_id,
        "request_id": request_id,
        "error": "cut short by the end of the run",
        "session_type": plan.session_type.name,
        "role": plan.session_type.role,
        "turn": turn,
        "drop_reason": "cut_short",
    }


def _standalone_load() -> LoadConfig:
    # Without a settings file (``locust -f scenarios/locust_agent.py --users ...`` by hand) the
    # users play default sessions and Locust's own --users/--run-time shape the load.
    return LoadConfig(users=1, duration_s=1.0)


def build_state(environ: Mapping[str, str]) -> LoadState:
    """The process's state from ``CHAOSBENCH_LOCUST_CONFIG`` and ``CHAOSBENCH_WORKER``.

    Raises :class:`~harness.errors.ConfigError` for an unreadable or invalid settings file.
    """
    worker = environ.get(LOCUST_WORKER_ENV, "local")
    pid = os.getpid()
    path = environ.get(LOCUST_CONFIG_ENV)
    settings = read_locust_settings(Path(path)) if path else None
    load = settings.load if settings is not None else _standalone_load()
    sink: EventSink = (
        EventWriter(settings.events_dir, "requests", f"{worker}-{pid}")
        if settings is not None and worker != "master"
        else NullEventWriter()
    )
    tokens = session_tokens_from(settings.auth, environ) if settings is not None else None
    return LoadState(settings, worker, pid, RequestLog(sink), load, load.effective_stages(), tokens=tokens)


STATE = build_state(os.environ)


def write_json_atomically(path: Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


class StatusReporter:
    """Writes this process's ``samples`` rows and status file about once a second (module docstring).

    ``runs_users`` is false for the master; ``shape_target`` gives the shape's current target
    (``None`` when this process does not run the shape, or the shape has ended).
    """

    def __init__(
        self,
        state: LoadState,
        *,
        runs_users: bool,
        runs_shape: bool,
        user_count: Callable[[], int],
        shape_target: Callable[[], tuple[int, int] | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        assert state.settings is not None
        self._state = state
        self._runs_users = runs_users
        self._runs_shape = runs_shape
        self._user_count = user_count
        self._shape_target = shape_target
        self._clock = clock
        self._samples = EventWriter(state.settings.events_dir, "samples", state.worker_id, flush_rows=1)
        state.settings.runtime_dir.mkdir(parents=True, exist_ok=True)
        self._status_path = state.settings.runtime_dir / f"locust-status.{state.worker_id}.json"
        self._greenlet: gevent.Greenlet | None = None
        # Bounded: a whole run, its stop timeout and ten minutes of waiting to start.
        load = state.load
        self._max_ticks = int(load.total_duration_s() + load.stop_timeout_s + 600 + 60)

    def start(self) -> None:
        self._greenlet = gevent.spawn(self._loop)

    def stop(self) -> None:
        """Stop the loop and write a last sample and status (the final counts)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        self.report()
        self._samples.close()

    def _loop(self) -> None:
        for _ in range(self._max_ticks):
            self.report()
            now = self._clock()
            gevent.sleep(1.0 - (now % 1.0))  # on whole seconds, so the processes' rows line up

    def report(self) -> None:
        now = self._clock()
        state = self._state
        target = self._shape_target() if self._runs_shape else None
        stage = target[1] if target is not None else state.stage_now(now)
        users = self._user_count() if self._runs_users else 0
        in_flight = state.sessions_in_flight() if self._runs_users else 0
        status = {
            "worker": state.worker_id,
            "t": now,
            "locust_users": users,
            "sessions_in_flight": in_flight,
            "requests_total": state.requests.issued,
            "dropped_total": state.requests.dropped,
            "stage": stage,
            "target_users": None if not self._runs_shape else (target[0] if target is not None else 0),
        }
        write_json_atomically(self._status_path, status)
        row: dict[str, Any] = {"t": now, "process": f"locust-{state.worker}", "worker": state.worker_id}
        if self._runs_users:
            row |= {
                "locust_users": users,
                "sessions_in_flight": in_flight,
                "requests_total": state.requests.issued,
                "dropped_total": state.requests.dropped,
            }
        row["stage"] = stage
        if self._runs_shape:
            row["target_users"] = status["target_users"]
        self._samples.write(row)

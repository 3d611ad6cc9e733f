"""Locust user class that plays simulated agent sessions against the gateway.

Run by the orchestrator as ``locust -f scenarios/locust_agent.py --headless ...``
in a process of its own (locust monkey-patches the process with gevent). Its
settings come from the JSON file named by ``CHAOSBENCH_LOCUST_CONFIG``:

``{"events_dir": str, "worker": str, "think_time_s": {"min": f, "max": f},
   "request_timeout_s": f, "connect_timeout_s": f, "csv_prefix": str}``

Every request a user issues becomes exactly one row of the ``requests`` table
(``events/requests.<worker>-<pid>.jsonl``), written by the user itself rather than
from Locust's request event, so that a request cut short by the end of the run
(its greenlet killed) is still recorded, as ``dropped``.

Locust's own ``<csv_prefix>_stats.csv`` is rewritten once more when Locust quits:
its periodic writer runs every second, so its last snapshot can miss the final
second of requests.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, between, events, task
from locust.env import Environment
from locust.runners import WorkerRunner
from locust.stats import PERCENTILES_TO_REPORT, StatsCSV

from harness.events import EventSink, EventWriter, NullEventWriter

REQUEST_NAME = "agent_turn"


def _load_settings() -> dict[str, Any]:
    path = os.environ.get("CHAOSBENCH_LOCUST_CONFIG")
    if not path:
        return {}
    loaded: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return loaded


SETTINGS = _load_settings()
WORKER = f"{SETTINGS.get('worker', 'local')}-{os.getpid()}"
_think = SETTINGS.get("think_time_s", {"min": 0.5, "max": 1.5})
_session_numbers = itertools.count(1)
_writer: EventSink = (
    EventWriter(Path(SETTINGS["events_dir"]), "requests", WORKER)
    if "events_dir" in SETTINGS
    else NullEventWriter()
)


_environment: Environment | None = None


@events.init.add_listener
def _remember_environment(environment: Environment, **_kwargs: Any) -> None:
    global _environment
    _environment = environment


@events.quitting.add_listener
def _close_writer(**_kwargs: Any) -> None:
    _writer.close()


@events.quit.add_listener
def _write_final_stats_csv(**_kwargs: Any) -> None:
    prefix = SETTINGS.get("csv_prefix")
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


class AgentSessionUser(FastHttpUser):
    """One simulated conversation: a session id, numbered turns, think time between them."""

    wait_time = between(float(_think["min"]), float(_think["max"]))
    network_timeout = float(SETTINGS.get("request_timeout_s", 10.0))
    connection_timeout = float(SETTINGS.get("connect_timeout_s", 5.0))

    def on_start(self) -> None:
        self.session_id = f"{WORKER}-s{next(_session_numbers)}"
        self.turn = 0

    @task
    def agent_turn(self) -> None:
        request_id = uuid.uuid4().hex
        row: dict[str, Any] = {
            "t_start": time.time(),
            "session_id": self.session_id,
            "name": REQUEST_NAME,
            "outcome": "dropped",
            "status": 0,
            "worker": WORKER,
            "request_id": request_id,
            "error": "cut short by the end of the run",
        }
        row["t_intended"] = row["t_start"]
        started = time.perf_counter()
        try:
            with self.client.post(
                f"/v1/sessions/{self.session_id}/messages",
                json={"message": f"turn {self.turn}", "turn": self.turn},
                headers={"X-Request-ID": request_id},
                name=REQUEST_NAME,
                catch_response=True,
            ) as response:
                row["latency_s"] = time.perf_counter() - started
                row["status"] = int(response.status_code or 0)
                error = getattr(response, "error", None)
                if 200 <= row["status"] < 300:
                    row["outcome"], row["error"] = "ok", ""
                else:
                    row["outcome"] = "timeout" if _is_timeout(error) else "error"
                    row["error"] = str(error or response.text or "")[:300]
                    response.failure(row["error"] or f"HTTP {row['status']}")
        finally:
            row.setdefault("latency_s", time.perf_counter() - started)
            _writer.write(row)
            self.turn += 1

"""The load generator's processes: the Locust settings file and the command lines.

One process (``--workers 0``): ``locust -f scenarios/locust_agent.py --headless ...``,
named ``locust``, ``CHAOSBENCH_WORKER=local``. Distributed (``--workers N``): a master
(``--master --master-bind-host 127.0.0.1 --master-bind-port P --expect-workers N``, named
``locust``, ``CHAOSBENCH_WORKER=master``; it runs no users) and N workers (``--worker
--master-host 127.0.0.1 --master-port P``, named ``locust-w1`` ..., ``CHAOSBENCH_WORKER=w1``
...). With the web UI, the local process or the master serves it on 127.0.0.1 and starts
the load itself (``--autostart --autoquit 0``) instead of running ``--headless``.

Every process reads the same settings file, ``runtime/locust.json`` (contract C1)::

    {"events_dir", "runtime_dir", "csv_prefix", "seed", "load": <scenario load, as JSON>,
     "servers": [names], "workers": N, "connect_timeout_s", "auth": <scenario system.auth>}

No ``--users``, ``--spawn-rate`` or ``--run-time``: the locustfile's LoadTestShape plays the
scenario's load (``load`` in the settings file), and ends the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from harness.scenario import Scenario

__all__ = [
    "CONNECT_TIMEOUT_S",
    "LoadEnd",
    "LocustProcessSpec",
    "ProcessExit",
    "load_outcome",
    "locust_processes",
    "locust_settings",
]

#: Seconds a Locust user waits for a TCP connection to the gateway.
CONNECT_TIMEOUT_S = 5.0
#: How long the master waits for its workers before giving up (it then exits 1).
EXPECT_WORKERS_MAX_WAIT_S = 60

Role = Literal["local", "master", "worker"]


@dataclass(frozen=True)
class LocustProcessSpec:
    """One Locust process to start: its name in run.json/samples, its role, argv and environment."""

    name: str
    worker: str  # CHAOSBENCH_WORKER: "local", "master", "w1", ...
    role: Role
    argv: list[str]
    env: dict[str, str]


def locust_settings(
    scenario: Scenario, *, events_dir: str, runtime_dir: str, csv_prefix: str, workers: int
) -> dict[str, Any]:
    """The contents of ``runtime/locust.json`` (contract C1)."""
    load = scenario.load
    return {
        "events_dir": events_dir,
        "runtime_dir": runtime_dir,
        "csv_prefix": csv_prefix,
        "seed": scenario.seed,
        "load": load.model_dump(mode="json"),
        "servers": list(scenario.system.servers),
        "workers": workers,
        "connect_timeout_s": CONNECT_TIMEOUT_S,
        "auth": scenario.system.auth.model_dump(mode="json"),
    }


def locust_processes(
    scenario: Scenario,
    *,
    python: str,
    locustfile: str,
    host: str,
    csv_prefix: str,
    settings_path: str,
    workers: int,
    master_port: int | None = None,
    web_port: int | None = None,
    base_env: dict[str, str] | None = None,
) -> list[LocustProcessSpec]:
    """The Locust processes of a run: the local one, or the master followed by its workers.

    Raises ``ValueError`` when ``workers`` is negative or a master has no port.
    """
    if workers < 0:
        raise ValueError(f"workers must be >= 0, got {workers}")
    if workers and master_port is None:
        raise ValueError("distributed mode needs master_port")
    load = scenario.load
    base = [python, "-m", "locust", "-f", locustfile]
    quiet = ["--loglevel", "WARNING", "--exit-code-on-error", "0"]
    if web_port is None:
        start = ["--headless"]
    else:
        start = ["--autostart", "--autoquit", "0", "--web-host", "127.0.0.1", "--web-port", str(web_port)]
    main = [
        *base,
        *start,
        "--host",
        host,
        "--stop-timeout",
        f"{load.stop_timeout_s:g}",
        "--csv",
        csv_prefix,
        "--only-summary",
        *quiet,
    ]

    def env(worker: str) -> dict[str, str]:
        return {**(base_env or {}), "CHAOSBENCH_LOCUST_CONFIG": settings_path, "CHAOSBENCH_WORKER": worker}

    if workers == 0:
        return [LocustProcessSpec("locust", "local", "local", main, env("local"))]
    master = [
        *main,
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(master_port),
        "--expect-workers",
        str(workers),
        "--expect-workers-max-wait",
        str(EXPECT_WORKERS_MAX_WAIT_S),
    ]
    specs = [LocustProcessSpec("locust", "master", "master", master, env("master"))]
    for i in range(1, workers + 1):
        argv = [*base, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port), *quiet]
        specs.append(LocustProcessSpec(f"locust-w{i}", f"w{i}", "worker", argv, env(f"w{i}")))
    return specs


@dataclass(frozen=True)
class ProcessExit:
    """A Locust process's name and exit code (``None`` while it runs)."""

    name: str
    exit_code: int | None


@dataclass(frozen=True)
class LoadEnd:
    """How the load ended: ``completed``, or ``failed`` because ``process`` exited with ``exit_code``."""

    status: Literal["completed", "failed"]
    process: str | None = None
    exit_code: int | None = None


def load_outcome(
    main: ProcessExit, workers: list[ProcessExit], ok_codes: tuple[int, ...] = (0,)
) -> LoadEnd | None:
    """Whether the load has ended, from the exit codes of the local process or master and the workers.

    A worker that exits with 0 was told to quit by the master (the load is ending): wait for the
    master. A worker that exits otherwise (killed, crashed) fails the run even if the master
    carries on with the others, since its share of the users is gone.
    """
    for worker in workers:
        if worker.exit_code not in (None, 0):
            return LoadEnd("failed", worker.name, worker.exit_code)
    if main.exit_code is None:
        return None
    if main.exit_code in ok_codes:
        return LoadEnd("completed")
    return LoadEnd("failed", main.name, main.exit_code)

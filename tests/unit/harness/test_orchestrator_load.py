"""The orchestrator's side of the load: the Locust settings file (C1), the Locust command lines,
how the load ended, and the Locust status files read back for progress."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from harness.orchestrator.commands import gateway_config, has_crash_faults
from harness.orchestrator.loadgen import (
    LoadEnd,
    ProcessExit,
    load_outcome,
    locust_processes,
    locust_settings,
)
from harness.orchestrator.loadstatus import LoadStatus, read_load_status
from harness.orchestrator.rundir import RunDir
from harness.scenario import Scenario, parse_scenario

C1_KEYS = {
    "events_dir",
    "runtime_dir",
    "csv_prefix",
    "seed",
    "load",
    "servers",
    "workers",
    "connect_timeout_s",
}


def scenario(**load: object) -> Scenario:
    return parse_scenario(
        {
            "name": "unit",
            "seed": 9,
            "system": {"servers": {"weather": {}, "db": {"kind": "database"}}},
            "load": load or {"users": 20, "spawn_rate": 4, "duration_s": 30},
        },
        "unit.yaml",
    )


def processes(workers: int, web_port: int | None = None) -> list[object]:
    return locust_processes(  # type: ignore[return-value]
        scenario(),
        python="/py",
        locustfile="/x/locust_agent.py",
        host="http://127.0.0.1:8000",
        csv_prefix="/run/locust/locust",
        settings_path="/run/runtime/locust.json",
        workers=workers,
        master_port=5999 if workers else None,
        web_port=web_port,
        base_env={"PATH": "/bin"},
    )


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_settings_file_has_every_c1_key_and_the_scenario_load_as_json() -> None:
    sc = scenario(stages=[{"duration_s": 5, "users": 3}], think_time_s={"min": 0, "max": 0})
    settings = locust_settings(
        sc, events_dir="/r/events", runtime_dir="/r/runtime", csv_prefix="/r/l", workers=2
    )
    assert settings.keys() >= C1_KEYS
    assert settings["load"] == sc.load.model_dump(mode="json")
    assert settings["servers"] == ["weather", "db"]
    assert (settings["workers"], settings["seed"], settings["runtime_dir"]) == (2, 9, "/r/runtime")
    assert isinstance(settings["connect_timeout_s"], float)
    json.dumps(settings)  # it is written as JSON


def test_one_local_process_runs_headless_named_locust_with_worker_local() -> None:
    [local] = processes(0)
    assert (local.name, local.worker, local.role) == ("locust", "local", "local")  # type: ignore[attr-defined]
    argv: list[str] = local.argv  # type: ignore[attr-defined]
    assert argv[:5] == ["/py", "-m", "locust", "-f", "/x/locust_agent.py"]
    assert "--headless" in argv and "--master" not in argv and "--worker" not in argv
    assert flag(argv, "--host") == "http://127.0.0.1:8000"
    assert not {"--users", "--spawn-rate", "--run-time"} & set(argv)  # the locustfile's shape plays the load
    assert flag(argv, "--csv") == "/run/locust/locust"
    env = local.env  # type: ignore[attr-defined]
    assert env == {
        "PATH": "/bin",
        "CHAOSBENCH_LOCUST_CONFIG": "/run/runtime/locust.json",
        "CHAOSBENCH_WORKER": "local",
    }


def test_distributed_mode_is_a_loopback_master_then_n_workers_with_their_names() -> None:
    master, *workers = processes(2)
    m: list[str] = master.argv  # type: ignore[attr-defined]
    assert (master.name, master.worker) == ("locust", "master")  # type: ignore[attr-defined]
    assert "--master" in m and "--headless" in m
    assert (flag(m, "--master-bind-host"), flag(m, "--master-bind-port"), flag(m, "--expect-workers")) == (
        "127.0.0.1",
        "5999",
        "2",
    )
    assert [(w.name, w.worker, w.role) for w in workers] == [  # type: ignore[attr-defined]
        ("locust-w1", "w1", "worker"),
        ("locust-w2", "w2", "worker"),
    ]
    for w in workers:
        argv: list[str] = w.argv  # type: ignore[attr-defined]
        assert "--worker" in argv and (flag(argv, "--master-host"), flag(argv, "--master-port")) == (
            "127.0.0.1",
            "5999",
        )
        assert "--headless" not in argv and "--csv" not in argv  # the master drives and aggregates
        assert w.env["CHAOSBENCH_WORKER"] == w.worker  # type: ignore[attr-defined]
        assert w.env["CHAOSBENCH_LOCUST_CONFIG"] == "/run/runtime/locust.json"  # type: ignore[attr-defined]


def test_the_web_ui_replaces_headless_with_an_autostarting_loopback_ui() -> None:
    for main in (processes(0, web_port=8089)[0], processes(1, web_port=8089)[0]):
        argv: list[str] = main.argv  # type: ignore[attr-defined]
        assert "--headless" not in argv
        assert "--autostart" in argv and flag(argv, "--autoquit") == "0"
        assert (flag(argv, "--web-host"), flag(argv, "--web-port")) == ("127.0.0.1", "8089")


def test_bad_process_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="workers must be >= 0"):
        processes(-1)
    with pytest.raises(ValueError, match="master_port"):
        locust_processes(
            scenario(), python="p", locustfile="f", host="h", csv_prefix="c", settings_path="s", workers=1
        )


@pytest.mark.parametrize(
    ("main", "workers", "expected"),
    [
        (None, [None, None], None),
        (None, [0, None], None),  # w1 was told to quit: wait for the master
        (0, [0, 0], LoadEnd("completed")),
        (0, [], LoadEnd("completed")),
        (None, [None, -9], LoadEnd("failed", "w2", -9)),
        (0, [-9, 0], LoadEnd("failed", "w1", -9)),  # a dead worker fails the run even if the master ends well
        (None, [2, None], LoadEnd("failed", "w1", 2)),
        (1, [0], LoadEnd("failed", "main", 1)),
        (-15, [], LoadEnd("failed", "main", -15)),
    ],
)
def test_load_outcome(main: int | None, workers: list[int | None], expected: LoadEnd | None) -> None:
    got = load_outcome(
        ProcessExit("main", main), [ProcessExit(f"w{i + 1}", c) for i, c in enumerate(workers)]
    )
    assert got == expected


def test_a_single_process_may_end_with_code_1() -> None:
    assert load_outcome(ProcessExit("locust", 1), [], ok_codes=(0, 1)) == LoadEnd("completed")


def write_status(path: Path, **values: object) -> None:
    path.write_text(json.dumps(values), encoding="utf-8")


def test_status_files_are_summed_stale_and_unreadable_ones_left_out(tmp_path: Path) -> None:
    now = 1000.0
    base = {"locust_users": 0, "sessions_in_flight": 0, "requests_total": 0, "dropped_total": 0, "stage": 1}
    write_status(
        tmp_path / "locust-status.master-1.json", **base, worker="master-1", t=now - 1, target_users=50
    )
    write_status(
        tmp_path / "locust-status.w1-2.json",
        **(base | {"locust_users": 25, "sessions_in_flight": 20, "requests_total": 100, "dropped_total": 1}),
        worker="w1-2",
        t=now - 0.5,
        target_users=None,
    )
    write_status(
        tmp_path / "locust-status.w2-3.json",
        **(base | {"locust_users": 23, "sessions_in_flight": 22, "requests_total": 90}),
        worker="w2-3",
        t=now,
        target_users=None,
    )
    write_status(
        tmp_path / "locust-status.w3-4.json", **(base | {"locust_users": 99}), worker="w3-4", t=now - 60
    )
    (tmp_path / "locust-status.w4-5.json").write_text('{"t": 99', encoding="utf-8")
    (tmp_path / "issued.w1-2.json").write_text('{"worker": "w1-2", "issued": 3}', encoding="utf-8")
    assert read_load_status(tmp_path, now) == LoadStatus(
        processes=3,
        locust_users=48,
        sessions_in_flight=42,
        requests_total=190,
        dropped_total=1,
        target_users=50,
    )


def test_no_status_file_means_no_status(tmp_path: Path) -> None:
    assert read_load_status(tmp_path, 1000.0) is None
    write_status(tmp_path / "locust-status.local-1.json", t=900.0, locust_users=5)
    assert read_load_status(tmp_path, 1000.0) is None  # stale only


def test_a_url_server_is_reached_at_its_url_and_never_restarted(tmp_path: Path) -> None:
    sc = parse_scenario(
        {
            "name": "unit",
            "system": {
                "servers": {"weather": {"url": "http://127.0.0.1:9999/mcp"}, "db": {"kind": "database"}},
            },
            "load": {"users": 1, "duration_s": 1},
            "faults": [{"at_s": 0, "for_s": 1, "target": "db", "fault": {"kind": "crash"}}],
        },
        "unit.yaml",
    )
    run = RunDir(tmp_path)
    (tmp_path / "runtime").mkdir()
    config = gateway_config(sc, run, {"db": 4321}, run_start=None)
    assert config["servers"]["weather"] == {
        "kind": "weather",
        "transport": "http",
        "url": "http://127.0.0.1:9999/mcp",
        "timeout_s": None,
        "retries": None,
        "pool_size": None,
        "breaker": None,
    }
    assert config["servers"]["db"]["url"] == "http://127.0.0.1:4321/mcp"
    assert not has_crash_faults(sc, "weather") and has_crash_faults(sc, "db")
    assert os.listdir(tmp_path / "runtime") == []  # fault files are written with server commands, not here

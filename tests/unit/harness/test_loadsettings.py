"""The Locust settings file (contract C1): read, validated, errors naming file and key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.loadsettings import read_locust_settings


def settings(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "events_dir": str(tmp_path / "events"),
        "runtime_dir": str(tmp_path / "runtime"),
        "csv_prefix": str(tmp_path / "locust" / "locust"),
        "seed": 7,
        "load": {"stages": [{"duration_s": 5, "users": 3}], "spawn_rate": 4},
        "servers": ["weather", "db"],
        "workers": 2,
        "connect_timeout_s": 3.0,
    }
    return data | changes


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "locust.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_a_c1_settings_file_is_read_with_its_load(tmp_path: Path) -> None:
    read = read_locust_settings(write(tmp_path, settings(tmp_path, orchestrator_note="ignored")))
    assert read.events_dir == tmp_path / "events" and read.runtime_dir == tmp_path / "runtime"
    assert read.seed == 7 and read.workers == 2 and read.processes == 2
    assert [(s.users, s.spawn_rate) for s in read.load.effective_stages()] == [(3, 4.0)]


def test_a_single_local_process_runs_the_users_when_there_are_no_workers(tmp_path: Path) -> None:
    assert read_locust_settings(write(tmp_path, settings(tmp_path, workers=0))).processes == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("{not json", "the Locust settings are not JSON"),
        ({"servers": ["weather"]}, "events_dir: Field required"),
        ("LOAD", "load: a closed load needs users and duration_s"),
        ("SESSIONS", "load.sessions[0].servers names unknown server(s) ['files']"),
        ("WORKERS", "workers: Input should be greater than or equal to 0"),
    ],
)
def test_bad_settings_are_a_config_error_naming_the_file_and_key(
    tmp_path: Path, data: object, expected: str
) -> None:
    if data == "LOAD":
        data = settings(tmp_path, load={"spawn_rate": 1})
    elif data == "SESSIONS":
        data = settings(tmp_path, load={"users": 1, "duration_s": 1, "sessions": [{"servers": ["files"]}]})
    elif data == "WORKERS":
        data = settings(tmp_path, workers=-1)
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        read_locust_settings(path)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_a_missing_settings_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the Locust settings"):
        read_locust_settings(tmp_path / "nope.json")

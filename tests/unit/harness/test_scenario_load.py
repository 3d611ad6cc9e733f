"""The load section (stages, open model, capacity search, session mix, warmup), profiles and url servers."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.scenario import (
    CapacitySearch,
    LoadConfig,
    Stage,
    load_scenario,
    non_loopback_targets,
    validate_profiles,
)

BASE: dict[str, Any] = {
    "name": "tiny",
    "system": {"servers": {"weather": {}}},
    "load": {"users": 2, "duration_s": 3},
}


def write(tmp_path: Path, data: dict[str, Any], name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def with_load(**load: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["load"] = load
    return data


def error_of(tmp_path: Path, data: dict[str, Any], overrides: list[str] | None = None) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path, overrides)
    assert str(path) in str(info.value)
    return str(info.value)


def test_users_and_duration_are_one_stage() -> None:
    load = LoadConfig(users=40, duration_s=30, spawn_rate=20)
    assert load.effective_stages() == [Stage(duration_s=30, users=40, spawn_rate=20)]
    assert load.total_duration_s() == 30
    assert load.peak_sessions() == 40


def test_stages_inherit_the_spawn_rate_and_add_up() -> None:
    load = LoadConfig.model_validate(
        {
            "spawn_rate": 5,
            "stages": [
                {"duration_s": 10, "users": 20},
                {"duration_s": 5, "users": 200, "spawn_rate": 100},
                {"duration_s": 10, "users": 20},
            ],
        }
    )
    assert [s.spawn_rate for s in load.effective_stages()] == [5, 100, 5]
    assert load.total_duration_s() == 25
    assert load.peak_sessions() == 200


def test_a_capacity_search_is_stepped_stages() -> None:
    load = LoadConfig.model_validate(
        {
            "users": 10,
            "duration_s": 60,
            "spawn_rate": 50,
            "capacity": {"start_users": 100, "step_users": 100, "max_users": 350, "step_duration_s": 20},
        }
    )
    assert [(s.users, s.duration_s, s.spawn_rate) for s in load.effective_stages()] == [
        (100, 20, 50),
        (200, 20, 50),
        (300, 20, 50),
    ]
    assert load.total_duration_s() == 60
    assert load.peak_sessions() == 300


def test_a_disabled_capacity_search_leaves_the_plain_load() -> None:
    load = LoadConfig.model_validate({"users": 10, "duration_s": 60, "capacity": {"enabled": False}})
    assert load.effective_stages() == [Stage(duration_s=60, users=10, spawn_rate=10)]


@given(
    start=st.integers(1, 500),
    step=st.integers(1, 500),
    extra=st.integers(0, 2000),
)
def test_capacity_steps_start_at_start_never_pass_max_and_are_evenly_spaced(
    start: int, step: int, extra: int
) -> None:
    search = CapacitySearch(start_users=start, step_users=step, max_users=start + extra)
    steps = search.steps()
    assert steps[0] == start
    assert steps[-1] <= start + extra < steps[-1] + step
    assert all(b - a == step for a, b in itertools.pairwise(steps))


def test_the_open_model_is_bounded_by_max_sessions() -> None:
    load = LoadConfig.model_validate(
        {"model": "open", "duration_s": 30, "open": {"arrival_rate_per_s": 5, "max_sessions": 40}}
    )
    assert load.effective_stages() == []
    assert load.total_duration_s() == 30
    assert load.peak_sessions() == 40


@pytest.mark.parametrize(
    ("load", "expected"),
    [
        ({"users": 2}, "load: users needs duration_s"),
        ({"duration_s": 3}, "a closed load needs users and duration_s, stages, or a capacity search"),
        ({"model": "open", "duration_s": 3}, "model open needs an open"),
        (
            {"model": "open", "open": {"arrival_rate_per_s": 1, "max_sessions": 2}},
            "model open needs duration_s",
        ),
        (
            {"users": 2, "duration_s": 3, "open": {"arrival_rate_per_s": 1, "max_sessions": 2}},
            "open: is only for model open",
        ),
        (
            {"stages": [{"duration_s": 3, "users": 2}], "duration_s": 3},
            "with stages, the duration is the sum",
        ),
        (
            {"stages": [{"duration_s": 3, "users": 2}], "capacity": {}},
            "give stages or a capacity search, not both",
        ),
        ({"users": 2, "duration_s": 3, "warmup_s": 3}, "warmup_s (3.0) must be shorter than the load"),
        (
            {"stages": [{"duration_s": 0, "users": 2}]},
            "load.stages[0].duration_s: Input should be greater than 0",
        ),
        (
            {"capacity": {"start_users": 50, "max_users": 10}},
            "max_users (10) must be >= start_users (50)",
        ),
        (
            {"capacity": {"step_duration_s": 5, "settle_s": 5}},
            "settle_s (5.0) must be < step_duration_s (5.0)",
        ),
        (
            {"users": 2, "duration_s": 3, "sessions": [{"turns": {"min": 3, "max": 1}}]},
            "load.sessions[0].turns: min (3) must be <= max (1)",
        ),
        ({"users": 2, "duration_s": 3, "sessions": []}, "load.sessions: List should have at least 1 item"),
    ],
)
def test_load_errors_name_the_key_and_what_was_expected(
    tmp_path: Path, load: dict[str, Any], expected: str
) -> None:
    assert expected in error_of(tmp_path, with_load(**load))


def test_a_session_mix_keeps_roles_weights_and_scripts(tmp_path: Path) -> None:
    data = with_load(
        users=10,
        duration_s=5,
        sessions=[
            {"name": "reader", "weight": 3, "role": "analyst", "turns": {"min": 2, "max": 6}},
            {"name": "writer", "role": "admin", "servers": ["weather"]},
        ],
    )
    sessions = load_scenario(write(tmp_path, data)).load.sessions
    assert [(s.name, s.weight, s.role, s.servers) for s in sessions] == [
        ("reader", 3, "analyst", None),
        ("writer", 1, "admin", ["weather"]),
    ]
    assert (sessions[0].turns.min, sessions[0].turns.max) == (2, 6)


PROFILED: dict[str, Any] = {
    **BASE,
    "profiles": {
        "pool_1": {"system.manager.pool.size": 1},
        "pool_4": {"system.manager.pool.size": 4, "load.users": 8},
    },
}


def test_a_profile_applies_its_key_paths_and_is_recorded(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, PROFILED), profile="pool_4")
    assert scenario.system.manager.pool.size == 4
    assert scenario.load.users == 8
    assert scenario.profile == "pool_4"
    assert scenario.resolved()["profile"] == "pool_4"


def test_set_wins_over_the_profile(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, PROFILED), ["load.users=3"], profile="pool_4")
    assert scenario.load.users == 3


def test_an_unknown_profile_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such profile; this scenario has: pool_1, pool_4"):
        load_scenario(write(tmp_path, PROFILED), profile="pool_9")


def test_validate_profiles_finds_the_profile_that_breaks_the_scenario(tmp_path: Path) -> None:
    data = copy.deepcopy(PROFILED)
    data["profiles"]["broken"] = {"system.manager.pool.size": 0}
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError, match=r"system\.manager\.pool\.size: Input should be greater"):
        validate_profiles(path)
    del data["profiles"]["broken"]
    assert set(validate_profiles(write(tmp_path, data, "ok.yaml"))) == {"pool_1", "pool_4"}


def test_a_profile_cannot_change_profiles(tmp_path: Path) -> None:
    data = copy.deepcopy(PROFILED)
    data["profiles"]["sneaky"] = {"profiles.pool_1": {}}
    with pytest.raises(ScenarioError, match="a profile cannot change profiles"):
        load_scenario(write(tmp_path, data), profile="sneaky")


def url_server(url: str, **extra: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data["system"]["servers"] = {"mine": {"url": url, **extra}}
    return data


@pytest.mark.parametrize(
    ("url", "remote"),
    [
        ("http://127.0.0.1:9000/mcp", False),
        ("http://127.8.9.10:9000/mcp", False),
        ("http://localhost:9000/mcp", False),
        ("http://[::1]:9000/mcp", False),
        ("http://10.0.0.5:9000/mcp", True),
        ("https://mcp.example.com/mcp", True),
    ],
)
def test_only_loopback_url_servers_count_as_local(tmp_path: Path, url: str, remote: bool) -> None:
    scenario = load_scenario(write(tmp_path, url_server(url)))
    assert bool(non_loopback_targets(scenario)) is remote


def test_a_url_server_cannot_have_faults_or_stdio(tmp_path: Path) -> None:
    faulty = url_server("http://127.0.0.1:9/mcp", faults=[{"kind": "error", "probability": 0.1}])
    assert "chaosbench injects faults only into servers it starts" in error_of(tmp_path, faulty)
    stdio = url_server("http://127.0.0.1:9/mcp")
    stdio["system"]["transport"] = "stdio"
    assert "needs transport http" in error_of(tmp_path, stdio)
    timeline = url_server("http://127.0.0.1:9/mcp")
    timeline["faults"] = [{"at_s": 1, "target": "mine", "fault": {"kind": "hang"}}]
    assert "faults[0].target: server 'mine' is not started by chaosbench" in error_of(tmp_path, timeline)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_run_refuses_a_non_loopback_target_before_starting_anything(tmp_path: Path) -> None:
    path = write(tmp_path, url_server("http://192.0.2.10:9000/mcp"))
    done = run_cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert done.returncode == 2
    assert "--allow-non-loopback" in done.stderr and "system.servers.mine.url: 192.0.2.10" in done.stderr
    assert not (tmp_path / "runs").exists()


def test_validate_checks_every_profile_and_describes_the_load(tmp_path: Path) -> None:
    data = copy.deepcopy(PROFILED)
    data["load"] = {"capacity": {"start_users": 10, "step_users": 10, "max_users": 30, "step_duration_s": 10}}
    ok = run_cli("validate", str(write(tmp_path, data)))
    assert ok.returncode == 0, ok.stderr
    assert "capacity search, 3 steps of 10s from 10 to 30 users" in ok.stdout
    data["profiles"]["broken"] = {"load.capacity.max_users": 1}
    bad = run_cli("validate", str(write(tmp_path, data, "bad.yaml")))
    assert bad.returncode == 2
    assert "profile broken" in bad.stderr and "max_users (1) must be >= start_users (10)" in bad.stderr

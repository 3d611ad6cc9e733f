"""Scenario loading: defaults, overrides, and errors that name the file, the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import ScenarioError
from harness.scenario import Scenario, load_scenario

REPO = Path(__file__).resolve().parents[3]
MINIMAL = {
    "name": "tiny",
    "system": {"servers": {"weather": {}}},
    "load": {"users": 2, "duration_s": 3},
}


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def test_every_shipped_scenario_is_valid() -> None:
    files = sorted((REPO / "scenarios").glob("*.yaml"))
    assert files, "no scenario files found"
    for path in files:
        assert isinstance(load_scenario(path), Scenario)


def test_defaults_are_filled_in_the_resolved_scenario(tmp_path: Path) -> None:
    resolved = load_scenario(write(tmp_path, MINIMAL)).resolved()
    assert resolved["system"]["transport"] == "http"
    assert resolved["system"]["manager"]["breaker"]["failure_threshold"] == 5
    assert resolved["load"]["think_time_s"] == {"min": 0.5, "max": 1.5}
    assert load_scenario(write(tmp_path, resolved, "again.yaml")).resolved() == resolved


def test_set_overrides_values_by_key_path_and_parses_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL)
    scenario = load_scenario(
        path, ["load.users=7", "system.transport=stdio", "system.manager.breaker.failure_threshold=2"]
    )
    assert scenario.load.users == 7
    assert scenario.system.transport == "stdio"
    assert scenario.system.manager.breaker.failure_threshold == 2


def test_set_can_replace_a_list_item(tmp_path: Path) -> None:
    data = {**MINIMAL, "slas": [{"name": "a", "kind": "error_rate", "max_ratio": 0.1}]}
    scenario = load_scenario(write(tmp_path, data), ["slas.0.max_ratio=0.5"])
    assert scenario.slas[0].max_ratio == 0.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["load"].update(users=0), "load.users: Input should be greater than or equal to 1"),
        (lambda d: d["load"].update(bogus=1), "load.bogus: unknown key"),
        (
            lambda d: d["system"].update(transport="carrier-pigeon"),
            "system.transport: Input should be 'http' or 'stdio'",
        ),
        (lambda d: d["system"]["servers"].update(nope={}), "unknown kind 'nope'"),
        (
            lambda d: d["system"]["servers"]["weather"].update(faults=[{"kind": "error", "probability": 2}]),
            "system.servers.weather.faults[0].probability: expected a number in [0, 1]",
        ),
        (
            lambda d: d["system"]["servers"]["weather"].update(faults=[{"kind": "earthquake"}]),
            "system.servers.weather.faults[0].kind",
        ),
        (
            lambda d: d.update(faults=[{"at_s": 1, "target": "nope", "fault": {"kind": "hang"}}]),
            "faults[0].target: unknown server 'nope'; expected one of weather",
        ),
        (
            lambda d: d.update(
                faults=[
                    {"at_s": 1, "target": "weather", "fault": {"kind": "hang"}},
                    {"at_s": 2, "target": "weather", "fault": {"kind": "error", "probability": -1}},
                ]
            ),
            "faults[1].fault.probability",
        ),
        (
            lambda d: (
                d["system"].update(transport="stdio"),
                d.update(
                    faults=[{"at_s": 1, "target": "weather", "fault": {"kind": "http_status", "status": 503}}]
                ),
            ),
            "faults[0].fault.kind: http_status needs transport http",
        ),
        (
            lambda d: d["system"]["servers"]["weather"].update(
                faults=[{"kind": "latency", "delay_s": 1, "min_s": 0}]
            ),
            "system.servers.weather.faults[0]: expected either delay_s or min_s + max_s",
        ),
        (
            lambda d: d.update(slas=[{"name": "x", "kind": "latency", "percentile": 101, "max_s": 1}]),
            "slas[0].percentile",
        ),
        (lambda d: d.update(slas=[{"name": "x", "kind": "vibes"}]), "slas[0]: Input tag 'vibes'"),
        (
            lambda d: d["load"].update(sessions=[{"name": "a"}, {"name": "b", "servers": ["weather", "db"]}]),
            "load.sessions[1].servers: unknown server 'db'; expected one of weather",
        ),
    ],
)
def test_errors_name_the_file_and_key_path(tmp_path: Path, mutate: object, expected: str) -> None:
    import copy

    data = copy.deepcopy(MINIMAL)
    mutate(data)  # type: ignore[operator]
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_a_yaml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nload: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"not valid YAML at line \d+"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "expected"), [("", "the file is empty"), ("- a\n- b\n", "expected a mapping")]
)
def test_empty_or_non_mapping_files_are_rejected(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=expected):
        load_scenario(write(tmp_path, text))


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="no such scenario file"):
        load_scenario(tmp_path / "absent.yaml")


@pytest.mark.parametrize("override", ["noequals", "=3", "load.users.deeper=1"])
def test_malformed_overrides_are_rejected(tmp_path: Path, override: str) -> None:
    with pytest.raises(ScenarioError):
        load_scenario(write(tmp_path, MINIMAL), [override])


def test_each_server_gets_its_static_faults_and_its_timeline_windows(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "system": {"servers": {"weather": {"faults": [{"kind": "latency", "delay_s": 0.1}]}}},
        "faults": [
            {"at_s": 5, "for_s": 10, "target": "weather", "fault": {"kind": "crash"}},
            {"at_s": 20, "target": "weather", "fault": {"kind": "error", "probability": 0.5}},
        ],
    }
    scenario = load_scenario(write(tmp_path, data))
    assert scenario.fault_file("weather") == {
        "faults": [{"kind": "latency", "delay_s": 0.1}],
        "timeline": [
            {"at_s": 5.0, "for_s": 10.0, "fault": {"kind": "crash"}},
            {"at_s": 20.0, "fault": {"kind": "error", "probability": 0.5}},
        ],
    }


def test_breaker_timing_slas_are_accepted(tmp_path: Path) -> None:
    data = {
        **MINIMAL,
        "slas": [
            {"name": "opens fast", "kind": "breaker_opens_within", "max_s": 2, "server": "weather"},
            {"name": "closes", "kind": "breaker_closes_within", "max_s": 5},
        ],
    }
    scenario = load_scenario(write(tmp_path, data))
    assert [s.kind for s in scenario.slas] == ["breaker_opens_within", "breaker_closes_within"]

"""Reading fault files: valid files load, and every bad input names its file and key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fault_servers import (
    DEFAULT_ERROR_MESSAGE,
    ErrorFault,
    FaultConfigError,
    FaultPlan,
    FaultServerError,
    LatencyFault,
    load_fault_file,
    parse_faults,
)

EXAMPLE = """\
faults:
  - kind: latency
    delay_s: 0.2
    probability: 1.0
    tools: [get_forecast]
  - kind: latency
    min_s: 0.01
    max_s: 0.05
  - kind: error
    probability: 0.1
    message: injected failure
"""


def test_the_documented_example_file_loads_into_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text(EXAMPLE)

    plan = load_fault_file(path)

    assert plan == FaultPlan(
        faults=(
            LatencyFault(min_s=0.2, max_s=0.2, probability=1.0, tools=("get_forecast",)),
            LatencyFault(min_s=0.01, max_s=0.05),
            ErrorFault(probability=0.1, message="injected failure"),
        ),
        source=str(path),
    )


def test_a_json_fault_file_loads_like_yaml(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    path.write_text('{"faults": [{"kind": "error"}]}')

    plan = load_fault_file(path)

    assert plan.faults == (ErrorFault(probability=1.0, message=DEFAULT_ERROR_MESSAGE),)


def test_an_empty_fault_list_is_a_plan_without_faults() -> None:
    assert parse_faults({"faults": []}, "inline").faults == ()


def test_null_or_empty_tools_target_every_tool() -> None:
    plan = parse_faults({"faults": [{"kind": "error", "tools": None}, {"kind": "error", "tools": []}]}, "x")

    assert [fault.tools for fault in plan.faults] == [(), ()]


def test_repeated_tool_names_are_kept_once() -> None:
    plan = parse_faults({"faults": [{"kind": "error", "tools": ["a", "b", "a"]}]}, "x")

    assert plan.faults[0].tools == ("a", "b")


def test_config_errors_belong_to_the_package_root_error() -> None:
    with pytest.raises(FaultServerError):
        parse_faults([], "x")


BAD_INPUTS: list[tuple[str, Any, str, str]] = [
    ("not a mapping", ["x"], "(top level)", "expected a mapping"),
    ("no faults key", {}, "faults", "required"),
    ("unknown top-level key", {"faults": [], "extra": 1}, "extra", "unknown key"),
    ("faults not a list", {"faults": {"kind": "error"}}, "faults", "expected a list"),
    ("fault not a mapping", {"faults": ["error"]}, "faults[0]", "expected a mapping"),
    ("missing kind", {"faults": [{"probability": 0.5}]}, "faults[0].kind", "required"),
    ("unknown kind", {"faults": [{"kind": "meteor"}]}, "faults[0].kind", "unknown kind 'meteor'"),
    (
        "unknown key on a fault",
        {"faults": [{"kind": "error"}, {"kind": "latency", "delay": 1}]},
        "faults[1].delay",
        "unknown key",
    ),
    (
        "key of another kind",
        {"faults": [{"kind": "error", "delay_s": 1}]},
        "faults[0].delay_s",
        "unknown key",
    ),
    (
        "probability above one",
        {"faults": [{"kind": "error"}, {"kind": "error", "probability": 1.5}]},
        "faults[1].probability",
        "expected a number in [0, 1], got 1.5",
    ),
    (
        "negative probability",
        {"faults": [{"kind": "error", "probability": -0.1}]},
        "faults[0].probability",
        "[0, 1]",
    ),
    (
        "boolean probability",
        {"faults": [{"kind": "error", "probability": True}]},
        "faults[0].probability",
        "boolean",
    ),
    (
        "text probability",
        {"faults": [{"kind": "error", "probability": "10%"}]},
        "faults[0].probability",
        "string",
    ),
    ("nan delay", {"faults": [{"kind": "latency", "delay_s": float("nan")}]}, "faults[0].delay_s", "seconds"),
    ("negative delay", {"faults": [{"kind": "latency", "delay_s": -1}]}, "faults[0].delay_s", "seconds >= 0"),
    ("negative min", {"faults": [{"kind": "latency", "min_s": -1, "max_s": 1}]}, "faults[0].min_s", ">= 0"),
    (
        "max below min",
        {"faults": [{"kind": "latency", "min_s": 2, "max_s": 1}]},
        "faults[0].max_s",
        ">= min_s",
    ),
    (
        "min without max",
        {"faults": [{"kind": "latency", "min_s": 1}]},
        "faults[0].max_s",
        "required with min_s",
    ),
    (
        "max without min",
        {"faults": [{"kind": "latency", "max_s": 1}]},
        "faults[0].min_s",
        "required with max_s",
    ),
    (
        "both delay forms",
        {"faults": [{"kind": "latency", "delay_s": 1, "min_s": 0, "max_s": 2}]},
        "faults[0]",
        "not both",
    ),
    ("no delay at all", {"faults": [{"kind": "latency"}]}, "faults[0]", "expected a delay"),
    (
        "tools as a string",
        {"faults": [{"kind": "error", "tools": "get_forecast"}]},
        "faults[0].tools",
        "list",
    ),
    (
        "empty tool name",
        {"faults": [{"kind": "error", "tools": ["a", ""]}]},
        "faults[0].tools[1]",
        "non-empty",
    ),
    (
        "empty message",
        {"faults": [{"kind": "error", "message": ""}]},
        "faults[0].message",
        "non-empty string",
    ),
]


@pytest.mark.parametrize(
    ("data", "key_path", "expected"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_fault_data_is_rejected_naming_source_key_path_and_expectation(
    data: Any, key_path: str, expected: str
) -> None:
    with pytest.raises(FaultConfigError) as caught:
        parse_faults(data, "scenario-faults.yaml")

    assert caught.value.source == "scenario-faults.yaml"
    assert caught.value.key_path == key_path
    assert expected in caught.value.problem
    assert str(caught.value).startswith(f"scenario-faults.yaml: {key_path}: ")


def test_a_bad_file_names_the_file_and_key_path(tmp_path: Path) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - kind: error\n  - kind: latency\n    delay_s: -0.5\n")

    with pytest.raises(FaultConfigError, match=r"faults\.yaml: faults\[1\]\.delay_s: expected seconds >= 0"):
        load_fault_file(path)


def test_a_missing_file_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(FaultConfigError, match=r"absent\.yaml: \(file\): cannot read"):
        load_fault_file(path)


def test_invalid_yaml_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("faults: [\n")

    with pytest.raises(FaultConfigError, match=r"broken\.yaml: \(file\): expected valid YAML"):
        load_fault_file(path)


def test_invalid_json_is_a_config_error_naming_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"faults": [}')

    with pytest.raises(FaultConfigError, match=r"broken\.json: \(file\): expected valid JSON.*line 1"):
        load_fault_file(path)


def test_an_empty_yaml_file_is_rejected_as_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")

    with pytest.raises(FaultConfigError, match=r"\(top level\): expected a mapping"):
        load_fault_file(path)

"""The fault model as the harness sees it: every kind parses, round-trips, names its errors, and
importing it starts and loads nothing."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from fault_servers import (
    HTTP_ONLY_KINDS,
    KNOWN_FAULT_KINDS,
    CrashFault,
    FaultConfigError,
    FaultPlan,
    LatencyFault,
    MalformedFault,
    TimelineWindow,
    parse_faults,
)
from fault_servers.model import fault_to_data

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_fault_examples() -> list[Any]:
    """Every YAML block of the README's "Fault kinds" section, decoded."""
    text = README.read_text()
    section = text[text.index("## Fault kinds") : text.index("## The run directory")]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)]


def test_every_known_kind_is_documented_and_the_readme_examples_load() -> None:
    plans = [parse_faults(data, "README.md") for data in readme_fault_examples()]

    documented = {kind for plan in plans for kind in plan.kinds}
    assert documented == set(KNOWN_FAULT_KINDS)
    assert len(KNOWN_FAULT_KINDS) == 11


def test_a_timeline_window_parses_with_offsets_and_its_fault() -> None:
    plan = parse_faults(
        {"timeline": [{"at_s": 10, "for_s": 20, "fault": {"kind": "error", "probability": 0.5}}]}, "f"
    )

    assert plan.faults == ()
    assert [(w.at_s, w.for_s, w.fault.kind, w.fault.probability) for w in plan.timeline] == [
        (10, 20, "error", 0.5)
    ]


def test_a_crash_triggers_at_a_call_among_static_faults_and_at_its_window_start_on_the_timeline() -> None:
    plan = parse_faults(
        {"faults": [{"kind": "crash"}], "timeline": [{"at_s": 1, "fault": {"kind": "crash"}}]}, "f"
    )

    assert plan.faults[0] == CrashFault(trigger="call")
    assert plan.timeline[0].fault == CrashFault(trigger="window_start")


def test_the_plan_says_which_of_its_kinds_only_http_can_carry_out() -> None:
    plan = parse_faults(
        {
            "faults": [{"kind": "error"}],
            "timeline": [{"at_s": 1, "fault": {"kind": "http_status", "status": 503}}],
        },
        "f",
    )

    assert {"http_status"} == HTTP_ONLY_KINDS
    assert plan.http_only_kinds == {"http_status"}
    plan.check_transport("http")
    with pytest.raises(
        FaultConfigError, match=r"^f: timeline\[0\]\.fault\.kind: 'http_status' needs the http transport"
    ):
        plan.check_transport("stdio")


def test_unknown_tools_on_the_timeline_are_named_by_key_path() -> None:
    plan = parse_faults({"timeline": [{"at_s": 0, "fault": {"kind": "hang", "tools": ["a", "b"]}}]}, "f")

    with pytest.raises(FaultConfigError, match=r"timeline\[0\]\.fault\.tools\[1\]: unknown tool 'b'"):
        plan.check_tool_names(frozenset({"a"}))


BAD: list[tuple[str, Any, str, str]] = [
    ("timeline not a list", {"timeline": {"at_s": 1}}, "timeline", "expected a list of windows"),
    ("window not a mapping", {"timeline": [3]}, "timeline[0]", "expected a mapping with at_s"),
    ("window without at_s", {"timeline": [{"fault": {"kind": "hang"}}]}, "timeline[0].at_s", "required"),
    ("negative at_s", {"timeline": [{"at_s": -1, "fault": {"kind": "hang"}}]}, "timeline[0].at_s", ">= 0"),
    (
        "boolean for_s",
        {"timeline": [{"at_s": 1, "for_s": True, "fault": {}}]},
        "timeline[0].for_s",
        "boolean",
    ),
    ("window without fault", {"timeline": [{"at_s": 1}]}, "timeline[0].fault", "required"),
    ("unknown window key", {"timeline": [{"at_s": 1, "until_s": 2}]}, "timeline[0].until_s", "unknown key"),
    (
        "bad fault in a window",
        {
            "timeline": [
                {"at_s": 0, "fault": {"kind": "hang"}},
                {"at_s": 1, "fault": {"kind": "error", "probability": 2}},
            ]
        },
        "timeline[1].fault.probability",
        "expected a number in [0, 1], got 2.0",
    ),
    (
        "unknown kind in a window",
        {"timeline": [{"at_s": 1, "fault": {"kind": "nap"}}]},
        "timeline[0].fault.kind",
        "unknown kind 'nap'",
    ),
    (
        "pareto without alpha",
        {"faults": [{"kind": "latency", "distribution": "pareto", "min_s": 0.1, "max_s": 1}]},
        "faults[0].alpha",
        "required",
    ),
    (
        "pareto without cap",
        {"faults": [{"kind": "latency", "distribution": "pareto", "min_s": 0.1, "alpha": 2}]},
        "faults[0].max_s",
        "required",
    ),
    (
        "pareto with zero scale",
        {"faults": [{"kind": "latency", "distribution": "pareto", "min_s": 0, "alpha": 2, "max_s": 1}]},
        "faults[0].min_s",
        "seconds > 0",
    ),
    (
        "pareto with delay_s",
        {"faults": [{"kind": "latency", "distribution": "pareto", "delay_s": 1}]},
        "faults[0].delay_s",
        "not used by distribution pareto",
    ),
    (
        "lognormal with alpha",
        {"faults": [{"kind": "latency", "distribution": "lognormal", "alpha": 1}]},
        "faults[0].alpha",
        "not used by distribution lognormal",
    ),
    (
        "lognormal negative sigma",
        {
            "faults": [
                {"kind": "latency", "distribution": "lognormal", "median_s": 0.1, "sigma": -1, "max_s": 1}
            ]
        },
        "faults[0].sigma",
        ">= 0",
    ),
    (
        "lognormal cap below floor",
        {
            "faults": [
                {
                    "kind": "latency",
                    "distribution": "lognormal",
                    "median_s": 0.1,
                    "sigma": 1,
                    "min_s": 2,
                    "max_s": 1,
                }
            ]
        },
        "faults[0].max_s",
        ">= min_s",
    ),
    (
        "sigma without a distribution",
        {"faults": [{"kind": "latency", "delay_s": 1, "sigma": 1}]},
        "faults[0].sigma",
        "not used by distribution fixed or uniform",
    ),
    (
        "unknown distribution",
        {"faults": [{"kind": "latency", "distribution": "zipf"}]},
        "faults[0].distribution",
        "expected fixed or uniform or pareto or lognormal",
    ),
    (
        "fixed without delay_s",
        {"faults": [{"kind": "latency", "distribution": "fixed"}]},
        "faults[0]",
        "expected a delay: delay_s",
    ),
    (
        "jsonrpc code not an integer",
        {"faults": [{"kind": "jsonrpc_error", "code": 1.5}]},
        "faults[0].code",
        "an integer",
    ),
    (
        "jsonrpc code a boolean",
        {"faults": [{"kind": "jsonrpc_error", "code": False}]},
        "faults[0].code",
        "boolean",
    ),
    (
        "exit code out of range",
        {"faults": [{"kind": "crash", "exit_code": 256}]},
        "faults[0].exit_code",
        "0..255",
    ),
    (
        "unknown trigger",
        {"faults": [{"kind": "crash", "trigger": "soon"}]},
        "faults[0].trigger",
        "call or window_start",
    ),
    (
        "tools on a window-start crash",
        {"timeline": [{"at_s": 1, "fault": {"kind": "crash", "tools": ["a"]}}]},
        "timeline[0].fault.tools",
        "only with trigger: call",
    ),
    ("slow start without delay", {"faults": [{"kind": "slow_start"}]}, "faults[0].delay_s", "required"),
    (
        "slow start with tools",
        {"faults": [{"kind": "slow_start", "delay_s": 1, "tools": ["a"]}]},
        "faults[0].tools",
        "unknown key",
    ),
    (
        "flapping without down_s",
        {"faults": [{"kind": "flapping", "up_s": 1}]},
        "faults[0].down_s",
        "required",
    ),
    (
        "flapping with zero up_s",
        {"faults": [{"kind": "flapping", "up_s": 0, "down_s": 1}]},
        "faults[0].up_s",
        "seconds > 0",
    ),
    (
        "malformed without mode",
        {"faults": [{"kind": "malformed"}]},
        "faults[0].mode",
        "required; expected not_json or wrong_shape",
    ),
    (
        "malformed unknown mode",
        {"faults": [{"kind": "malformed", "mode": "garbled"}]},
        "faults[0].mode",
        "not_json or wrong_shape",
    ),
    ("oversized zero", {"faults": [{"kind": "oversized", "size_bytes": 0}]}, "faults[0].size_bytes", "1.."),
    (
        "oversized as text",
        {"faults": [{"kind": "oversized", "size_bytes": "1MB"}]},
        "faults[0].size_bytes",
        "string",
    ),
    (
        "http status not allowed",
        {"faults": [{"kind": "http_status", "status": 500}]},
        "faults[0].status",
        "429 or 503",
    ),
    ("http status missing", {"faults": [{"kind": "http_status"}]}, "faults[0].status", "required"),
    (
        "negative retry after",
        {"faults": [{"kind": "http_status", "status": 429, "retry_after_s": -1}]},
        "faults[0].retry_after_s",
        "whole seconds >= 0",
    ),
    (
        "drop with a parameter",
        {"faults": [{"kind": "drop_mid_response", "bytes": 10}]},
        "faults[0].bytes",
        "unknown key",
    ),
]


@pytest.mark.parametrize(("data", "key_path", "expected"), [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_bad_kinds_and_windows_name_the_key_path_and_what_was_expected(
    data: Any, key_path: str, expected: str
) -> None:
    with pytest.raises(FaultConfigError) as caught:
        parse_faults(data, "scenario.yaml")

    assert (caught.value.source, caught.value.key_path) == ("scenario.yaml", key_path)
    assert expected in caught.value.problem


@pytest.mark.parametrize(
    "build",
    [
        lambda: LatencyFault(0.0, 1.0, distribution="pareto", alpha=1.0),
        lambda: LatencyFault(0.0, 1.0, distribution="lognormal", median_s=0.0),
        lambda: CrashFault(exit_code=-1),
        lambda: CrashFault(trigger="window_start", tools=("a",)),
        lambda: MalformedFault(mode="garbled"),  # type: ignore[arg-type]
        lambda: TimelineWindow(at_s=-1.0, fault=CrashFault()),
        lambda: TimelineWindow(at_s=1.0, for_s=float("inf"), fault=CrashFault()),
    ],
)
def test_faults_and_windows_built_in_code_are_validated_on_construction(build: Any) -> None:
    with pytest.raises(ValueError):
        build()


seconds = st.floats(0, 100, allow_nan=False).map(lambda x: round(x, 3))
probability = st.floats(0, 1, allow_nan=False)
tools = st.lists(st.sampled_from(["get_forecast", "get_current_weather"]), unique=True).map(tuple)
faults = st.one_of(
    st.builds(
        lambda a, b, p, t: LatencyFault(min(a, b), max(a, b), p, t), seconds, seconds, probability, tools
    ),
    st.builds(
        lambda a, b, alpha: LatencyFault(
            min(a, b) + 0.001, max(a, b) + 0.001, distribution="pareto", alpha=alpha
        ),
        seconds,
        seconds,
        st.floats(0.1, 5),
    ),
    st.builds(
        lambda m, s, cap: LatencyFault(0.0, cap, distribution="lognormal", median_s=m + 0.001, sigma=s),
        seconds,
        st.floats(0, 3),
        seconds,
    ),
    st.builds(CrashFault, probability=probability, exit_code=st.integers(0, 255)),
    st.builds(
        MalformedFault,
        mode=st.sampled_from(["not_json", "wrong_shape"]),
        probability=probability,
        tools=tools,
    ),
    st.sampled_from(
        [parse_faults({"faults": [f]}, "x").faults[0] for f in readme_fault_examples()[0]["faults"]]
    ),
)
plans = st.builds(
    lambda static, windows: FaultPlan(faults=tuple(static), source="x", timeline=tuple(windows)),
    st.lists(faults, max_size=4),
    st.lists(st.builds(TimelineWindow, at_s=seconds, fault=faults, for_s=st.none() | seconds), max_size=3),
)


@given(plan=plans)
def test_a_plan_round_trips_through_fault_file_data(plan: FaultPlan) -> None:
    data = plan.to_data()
    window_crashes = [
        w for w in plan.timeline if isinstance(w.fault, CrashFault) and w.fault.trigger == "call"
    ]

    assert parse_faults(data, "x") == plan
    assert all(fault_to_data(w.fault)["trigger"] == "call" for w in window_crashes)


def test_importing_the_package_and_parsing_loads_neither_the_mcp_sdk_nor_a_server() -> None:
    code = (
        "import sys, fault_servers\n"
        "fault_servers.parse_faults({'faults': [{'kind': 'hang'}]}, 'x')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'mcp', 'anyio', 'starlette', 'uvicorn'}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"

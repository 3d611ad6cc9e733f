"""The live fault state of a process, with a hand-driven clock: rows as windows end, on replacement,
on stop and before a crash; slow start; window-start crashes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import anyio
import pytest

from fault_servers import FaultConfigError, FaultInjector, parse_faults
from fault_servers.events import FaultEventLog, events_path
from fault_servers.runtime import FaultRuntime

RUN_START = 1_000.0
TOOLS = frozenset({"get_forecast", "get_current_weather"})


class FakeClock:
    def __init__(self, now: float = RUN_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Exited(Exception):
    """Stands in for the process ending."""


class RecordingExit:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, exit_code: int) -> None:
        self.codes.append(exit_code)
        raise Exited(exit_code)


def runtime_for(
    data: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
    exit: RecordingExit | None = None,
    transport: str = "http",
) -> FaultRuntime:
    injector = FaultInjector.seeded(parse_faults(data, "f"), 1, clock=clock, run_start_s=RUN_START)
    events = FaultEventLog(events_path(tmp_path, "wx", 42), "wx", 42)
    return FaultRuntime(
        injector,
        target="wx",
        tool_names=TOOLS,
        transport=transport,
        events=events,
        exit=exit or RecordingExit(),
    )


def rows(tmp_path: Path) -> list[dict[str, Any]]:
    path = events_path(tmp_path, "wx", 42)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def windows(tmp_path: Path) -> list[tuple[str, float, float]]:
    return [(row["window"], row["t_start"], row["t_end"]) for row in rows(tmp_path)]


TIMELINE = {
    "faults": [{"kind": "latency", "delay_s": 0.1}],
    "timeline": [
        {"at_s": 1, "for_s": 2, "fault": {"kind": "error"}},
        {"at_s": 2, "fault": {"kind": "hang", "tools": ["get_forecast"]}},
    ],
}


def test_the_events_file_is_named_by_target_and_pid() -> None:
    assert events_path("/run/events", "weather", 123) == Path("/run/events/faults.weather-123.jsonl")


def test_a_timeline_row_is_written_when_its_window_ends_and_the_rest_when_the_process_stops(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    runtime = runtime_for(TIMELINE, tmp_path, clock)
    runtime.start()

    clock.now = RUN_START + 2.5
    runtime.tick()
    mid_window = windows(tmp_path)
    clock.now = RUN_START + 3.0
    runtime.tick()
    ended = windows(tmp_path)
    clock.now = RUN_START + 7.0
    runtime.stop()
    runtime.stop()

    assert mid_window == []
    assert ended == [("timeline[0]", RUN_START + 1.0, RUN_START + 3.0)]
    assert windows(tmp_path) == [
        ("timeline[0]", RUN_START + 1.0, RUN_START + 3.0),
        ("faults[0]", RUN_START, RUN_START + 7.0),
        ("timeline[1]", RUN_START + 2.0, RUN_START + 7.0),
    ]


def test_rows_have_the_faults_table_columns_with_params_as_sorted_json_text(tmp_path: Path) -> None:
    clock = FakeClock()
    runtime = runtime_for(TIMELINE, tmp_path, clock)
    clock.now = RUN_START + 4.0
    runtime.stop()

    row = rows(tmp_path)[-1]
    assert row == {
        "t_start": RUN_START + 2.0,
        "t_end": RUN_START + 4.0,
        "target": "wx",
        "kind": "hang",
        "params": '{"probability": 1.0, "tools": ["get_forecast"]}',
        "window": "timeline[1]",
        "pid": 42,
    }


def test_a_process_that_applies_no_fault_writes_no_file(tmp_path: Path) -> None:
    runtime = runtime_for({"faults": []}, tmp_path, FakeClock())
    runtime.start()
    runtime.stop()

    assert not events_path(tmp_path, "wx", 42).exists()


def test_a_crash_at_a_window_start_writes_every_open_window_then_exits_with_its_code(tmp_path: Path) -> None:
    clock = FakeClock()
    exit = RecordingExit()
    data = {
        "faults": [{"kind": "latency", "delay_s": 0.1}],
        "timeline": [{"at_s": 5, "fault": {"kind": "crash", "exit_code": 6}}],
    }
    runtime = runtime_for(data, tmp_path, clock, exit)
    runtime.start()
    clock.now = RUN_START + 5.0

    with pytest.raises(Exited):
        runtime.tick()

    assert exit.codes == [6]
    assert windows(tmp_path) == [
        ("faults[0]", RUN_START, RUN_START + 5.0),
        ("timeline[0]", RUN_START + 5.0, RUN_START + 5.0),
    ]


def test_a_process_started_inside_a_crash_window_exits_at_start(tmp_path: Path) -> None:
    exit = RecordingExit()
    data = {"timeline": [{"at_s": 5, "for_s": 10, "fault": {"kind": "crash", "exit_code": 6}}]}
    runtime = runtime_for(data, tmp_path, FakeClock(RUN_START + 8.0), exit)

    with pytest.raises(Exited):
        runtime.start()

    assert exit.codes == [6]
    assert windows(tmp_path) == [("timeline[0]", RUN_START + 8.0, RUN_START + 8.0)]


def test_a_slow_start_delays_readiness_from_the_process_start(tmp_path: Path) -> None:
    clock = FakeClock(RUN_START + 3.0)
    runtime = runtime_for({"faults": [{"kind": "slow_start", "delay_s": 2.0}]}, tmp_path, clock)

    waiting = runtime.remaining_start_s()
    clock.now = RUN_START + 5.0

    assert waiting == 2.0
    assert runtime.remaining_start_s() == 0.0
    assert runtime.state()["ready"]


def test_replacing_the_plan_ends_the_old_windows_now_and_starts_the_new_static_faults_now(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    runtime = runtime_for(TIMELINE, tmp_path, clock)
    clock.now = RUN_START + 1.5

    runtime.replace_plan(parse_faults({"faults": [{"kind": "error", "message": "live"}]}, "PUT"))
    decision = runtime.injector.decide("get_forecast")
    clock.now = RUN_START + 9.0
    runtime.stop()

    assert decision.error == "live"
    assert windows(tmp_path) == [
        ("faults[0]", RUN_START, RUN_START + 1.5),
        ("timeline[0]", RUN_START + 1.0, RUN_START + 1.5),
        ("faults[0]", RUN_START + 1.5, RUN_START + 9.0),
    ]


@pytest.mark.parametrize(
    ("data", "transport", "message"),
    [
        (
            {"faults": [{"kind": "hang", "tools": ["nope"]}]},
            "http",
            "faults[0].tools[0]: unknown tool 'nope'",
        ),
        ({"faults": [{"kind": "http_status", "status": 429}]}, "stdio", "needs the http transport"),
    ],
)
def test_a_replacement_the_server_cannot_carry_out_is_refused_and_the_old_plan_stays(
    data: dict[str, Any], transport: str, message: str, tmp_path: Path
) -> None:
    runtime = runtime_for(TIMELINE, tmp_path, FakeClock(), transport=transport)

    with pytest.raises(FaultConfigError, match=re.escape(message)):
        runtime.replace_plan(parse_faults(data, "PUT"))

    assert runtime.injector.plan.source == "f"
    assert windows(tmp_path) == []


def test_the_state_lists_the_plan_and_its_open_windows(tmp_path: Path) -> None:
    clock = FakeClock(RUN_START + 2.5)
    state = runtime_for(TIMELINE, tmp_path, clock).state()

    assert state["plan"] == parse_faults(TIMELINE, "f").to_data()
    assert [(w["window"], w["t_end"]) for w in state["active"]] == [
        ("faults[0]", None),
        ("timeline[0]", RUN_START + 3.0),
        ("timeline[1]", None),
    ]
    json.dumps(state, allow_nan=False)


async def test_the_ticker_writes_a_row_when_a_window_ends_and_wakes_on_a_replacement(tmp_path: Path) -> None:
    clock = FakeClock(RUN_START)
    data = {"timeline": [{"at_s": 0, "for_s": 0.05, "fault": {"kind": "hang"}}]}
    runtime = runtime_for(data, tmp_path, clock)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(runtime.run_ticker)
            await anyio.sleep(0.01)
            clock.now = RUN_START + 0.05
            while not rows(tmp_path):
                await anyio.sleep(0.01)
            runtime.replace_plan(
                parse_faults({"timeline": [{"at_s": 1, "for_s": 0.01, "fault": {"kind": "hang"}}]}, "PUT")
            )
            clock.now = RUN_START + 1.01
            while len(rows(tmp_path)) < 2:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()

    assert windows(tmp_path) == [
        ("timeline[0]", RUN_START, RUN_START + 0.05),
        ("timeline[0]", RUN_START + 1.0, RUN_START + 1.01),
    ]

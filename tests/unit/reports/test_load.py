"""Loading a run directory: tables from Parquet or JSONL parts, and what is tolerated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from reports import NotARunDirError, RunFileError, load_run
from reports.tables import TABLES

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]


def test_loader_reads_scenario_run_info_and_environment(make_run: MakeRun) -> None:
    run = load_run(make_run())

    assert run.scenario["name"] == "smoke"
    assert run.run_info["status"] == "completed"
    assert run.environment == {"python": "3.11"}
    assert run.warnings == []


def test_missing_run_json_and_environment_give_empty_dicts(make_run: MakeRun) -> None:
    run_dir = make_run(status=None)
    (run_dir / "environment.json").unlink()

    run = load_run(run_dir)

    assert run.run_info == {}
    assert run.environment == {}


def test_loader_prefers_parquet_over_jsonl_parts(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(30)}, parquet={"requests"})
    write_jsonl(run_dir / "events" / "requests.stale.jsonl", make_requests(5))

    run = load_run(run_dir)

    assert len(run.requests) == 30


def test_jsonl_parts_are_concatenated(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = make_run()
    rows = make_requests(25)
    write_jsonl(run_dir / "events" / "requests.worker-1.jsonl", rows[:10])
    write_jsonl(run_dir / "events" / "requests.worker-2.jsonl", rows[10:])

    run = load_run(run_dir)

    assert len(run.requests) == 25
    assert sorted(run.requests["request_id"]) == sorted(row["request_id"] for row in rows)


def test_truncated_last_jsonl_line_is_skipped_with_a_warning(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = make_run()
    write_jsonl(run_dir / "events" / "requests.locust.jsonl", make_requests(12), tail='{"t_start": 17000')

    run = load_run(run_dir)

    assert len(run.requests) == 12
    assert len(run.warnings) == 1
    assert "requests.locust.jsonl" in run.warnings[0]
    assert "truncated last line (line 13)" in run.warnings[0]


def test_truncated_line_cut_inside_a_multibyte_character_is_skipped(make_run: MakeRun) -> None:
    run_dir = make_run()
    cut = '{"server": "météo"}'.encode()[:12]
    (run_dir / "events" / "breaker.gateway.jsonl").write_bytes(b'{"t": 1.0, "server": "a"}\n' + cut)

    run = load_run(run_dir)

    assert list(run.breaker["server"]) == ["a"]
    assert any("truncated" in warning for warning in run.warnings)


def test_malformed_line_before_the_last_one_is_an_error_naming_file_and_line(
    make_run: MakeRun, make_requests: MakeRequests
) -> None:
    run_dir = make_run()
    rows = [json.dumps(row) for row in make_requests(3)]
    rows.insert(1, "{not json")
    (run_dir / "events" / "requests.locust.jsonl").write_text("\n".join(rows) + "\n")

    with pytest.raises(RunFileError, match=r"requests\.locust\.jsonl:2: line is not valid JSON"):
        load_run(run_dir)


@pytest.mark.parametrize("table", sorted(TABLES))
def test_missing_table_gives_an_empty_frame_with_required_columns(make_run: MakeRun, table: str) -> None:
    run = load_run(make_run())

    frame: pd.DataFrame = getattr(run, table)
    assert frame.empty
    assert list(frame.columns) == list(TABLES[table].column_names)


def test_missing_events_directory_gives_empty_tables_and_a_warning(make_run: MakeRun) -> None:
    run_dir = make_run()
    (run_dir / "events").rmdir()

    run = load_run(run_dir)

    assert run.requests.empty
    assert run.warnings == ["events/ directory is missing: every event table is empty"]


def test_missing_required_column_is_added_as_nulls_with_a_warning(make_run: MakeRun) -> None:
    run_dir = make_run(tables={"samples": [{"t": 1.0, "process": "gateway", "cpu_percent": 3.0}]})

    run = load_run(run_dir)

    assert list(run.samples.columns[:5]) == list(TABLES["samples"].column_names)
    assert run.samples["rss_bytes"].isna().all()
    assert any("'rss_bytes' is missing" in warning for warning in run.warnings)
    assert any("'pid' is missing" in warning for warning in run.warnings)


def test_columns_get_stable_dtypes_across_parts(make_run: MakeRun, write_jsonl: Callable[..., None]) -> None:
    run_dir = make_run()
    events = run_dir / "events"
    write_jsonl(events / "calls.a.jsonl", [{"t_start": 1, "attempt": 1, "error": None, "server": "w"}])
    write_jsonl(events / "calls.b.jsonl", [{"t_start": 2.5, "attempt": 2, "error": "boom", "server": "w"}])

    calls = load_run(run_dir).calls

    assert calls["t_start"].dtype == "float64"
    assert str(calls["attempt"].dtype) == "Int64"
    assert calls["error"].isna().tolist() == [True, False]


def test_extra_columns_are_kept_after_the_required_ones(make_run: MakeRun) -> None:
    run = load_run(make_run(tables={"samples": [{"t": 1.0, "process": "p", "pool_in_use": 3}]}))

    assert list(run.samples.columns)[-1] == "pool_in_use"


def test_params_written_as_an_object_become_json_text(make_run: MakeRun) -> None:
    fault = {"t_start": 1.0, "t_end": 2.0, "target": "weather", "kind": "latency", "params": {"delay_s": 0.2}}

    run = load_run(make_run(tables={"faults": [fault]}))

    assert json.loads(run.faults["params"].iloc[0]) == {"delay_s": 0.2}


def test_directory_without_scenario_yaml_is_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(NotARunDirError, match=r"scenario\.yaml is missing") as caught:
        load_run(tmp_path)

    assert str(tmp_path) in str(caught.value)


def test_nonexistent_path_is_not_a_run_dir(tmp_path: Path) -> None:
    with pytest.raises(NotARunDirError, match="no such directory"):
        load_run(tmp_path / "nowhere")


def test_run_json_that_is_not_an_object_is_a_run_file_error(make_run: MakeRun) -> None:
    run_dir = make_run()
    (run_dir / "run.json").write_text("[1, 2]")

    with pytest.raises(RunFileError, match=r"run\.json: expected a mapping"):
        load_run(run_dir)


def test_invalid_scenario_yaml_is_a_run_file_error(make_run: MakeRun) -> None:
    run_dir = make_run()
    (run_dir / "scenario.yaml").write_text("name: [unclosed\n")

    with pytest.raises(RunFileError, match=r"scenario\.yaml: cannot parse"):
        load_run(run_dir)


def test_fast_and_strict_jsonl_readers_give_the_same_frames(
    make_run: MakeRun,
    make_requests: MakeRequests,
    write_jsonl: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = make_run()
    rows = make_requests(60, {"error": 5, "timeout": 2, "dropped": 4})
    write_jsonl(run_dir / "events" / "requests.a.jsonl", rows[:30])
    write_jsonl(run_dir / "events" / "requests.b.jsonl", rows[30:], tail='{"t_start": 1')
    fast = load_run(run_dir)

    monkeypatch.setattr("reports.jsonl._read_fast", lambda body: None)
    strict = load_run(run_dir)

    pd.testing.assert_frame_equal(fast.requests, strict.requests)
    assert fast.warnings == strict.warnings


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-05-01T12:00:00", "2024-05-01T12:00:00"), ({"nested": [1]}, '{"nested": [1]}')],
)
def test_values_pyarrow_would_reinterpret_are_read_as_written(
    make_run: MakeRun, value: object, expected: str
) -> None:
    breaker = {"t": 1.0, "server": "w", "from_state": "closed", "to_state": "open", "reason": value}

    run = load_run(make_run(tables={"breaker": [breaker]}))

    assert run.breaker["reason"].tolist() == [expected]


def test_a_column_whose_type_drifts_is_coerced_with_a_warning(make_run: MakeRun) -> None:
    rows = [
        {"t_start": 1.0, "latency_s": 0.1, "name": "turn", "outcome": "ok", "status": 200},
        {"t_start": 2.0, "latency_s": 0.1, "name": "turn", "outcome": "error", "status": "n/a"},
    ]

    run = load_run(make_run(tables={"requests": rows}))

    assert run.requests["status"].tolist() == [200, pd.NA]
    assert any("1 value(s) in column 'status'" in warning for warning in run.warnings)


def test_blank_lines_in_a_part_are_ignored(make_run: MakeRun) -> None:
    run_dir = make_run()
    lines = ['{"t": 1.0, "server": "a"}', "", "  ", '{"t": 2.0, "server": "b"}', "\r", ""]
    (run_dir / "events" / "breaker.gateway.jsonl").write_text("\n".join(lines))

    run = load_run(run_dir)

    assert run.breaker["server"].tolist() == ["a", "b"]
    assert not any("truncated" in warning for warning in run.warnings)

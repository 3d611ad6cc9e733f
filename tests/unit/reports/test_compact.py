"""Compacting JSONL parts into Parquet: atomic, parts removed only afterwards, nothing lost."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from reports import RunFileError, compact_events, load_run

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]


def _run_with_parts(make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]) -> Path:
    run_dir = make_run()
    events = run_dir / "events"
    rows = make_requests(40, {"error": 3, "dropped": 2})
    write_jsonl(events / "requests.worker-1.jsonl", rows[:15])
    write_jsonl(events / "requests.worker-2.jsonl", rows[15:])
    write_jsonl(events / "breaker.gateway.jsonl", [{"t": 1.0, "server": "w", "from_state": "closed"}])
    return run_dir


def test_compaction_preserves_row_counts_and_content(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = _run_with_parts(make_run, make_requests, write_jsonl)
    before = load_run(run_dir)

    counts = compact_events(run_dir / "events")

    after = load_run(run_dir)
    assert counts == {"breaker": 1, "requests": 40}
    assert sorted(path.name for path in (run_dir / "events").iterdir()) == [
        "breaker.parquet",
        "requests.parquet",
    ]
    pd.testing.assert_frame_equal(after.requests, before.requests)
    pd.testing.assert_frame_equal(after.breaker, before.breaker)


def test_compaction_keeps_truncated_line_warnings_in_the_parquet_file(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = make_run()
    write_jsonl(run_dir / "events" / "requests.locust.jsonl", make_requests(4), tail='{"t_sta')

    compact_events(run_dir / "events")

    run = load_run(run_dir)
    assert len(run.requests) == 4
    assert len(run.warnings) == 1
    assert "truncated last line" in run.warnings[0]


def test_failed_rename_leaves_the_parts_and_no_parquet_or_temp_file(
    make_run: MakeRun,
    make_requests: MakeRequests,
    write_jsonl: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = _run_with_parts(make_run, make_requests, write_jsonl)
    before = sorted(path.name for path in (run_dir / "events").iterdir())

    def fail_replace(src: object, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("reports.atomic.os.replace", fail_replace)
    with pytest.raises(OSError, match="disk full"):
        compact_events(run_dir / "events")

    assert sorted(path.name for path in (run_dir / "events").iterdir()) == before


def test_failed_parquet_write_leaves_the_parts_untouched(
    make_run: MakeRun,
    make_requests: MakeRequests,
    write_jsonl: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = _run_with_parts(make_run, make_requests, write_jsonl)
    before = {path.name: path.read_bytes() for path in (run_dir / "events").iterdir()}

    def fail_write(table: object, where: object) -> None:
        Path(str(where)).write_bytes(b"PAR1 half written")
        raise OSError("killed mid-write")

    monkeypatch.setattr("reports.load.pq.write_table", fail_write)
    with pytest.raises(OSError, match="killed mid-write"):
        compact_events(run_dir / "events")

    assert {path.name: path.read_bytes() for path in (run_dir / "events").iterdir()} == before


def test_parts_are_deleted_only_after_the_parquet_file_is_in_place(
    make_run: MakeRun,
    make_requests: MakeRequests,
    write_jsonl: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_dir = _run_with_parts(make_run, make_requests, write_jsonl)
    seen: list[tuple[str, bool]] = []
    real_unlink = Path.unlink

    def recording_unlink(self: Path, missing_ok: bool = False) -> None:
        if self.suffix == ".jsonl":
            table = self.name.split(".", 1)[0]
            target = self.parent / f"{table}.parquet"
            seen.append((self.name, target.is_file() and pq.read_metadata(target).num_rows > 0))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", recording_unlink)
    compact_events(run_dir / "events")

    assert sorted(name for name, _ in seen) == [
        "breaker.gateway.jsonl",
        "requests.worker-1.jsonl",
        "requests.worker-2.jsonl",
    ]
    assert all(parquet_complete for _, parquet_complete in seen)


def test_parts_left_beside_an_existing_parquet_file_are_removed_without_rewriting_it(
    make_run: MakeRun, make_requests: MakeRequests, write_jsonl: Callable[..., None]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(10)}, parquet={"requests"})
    write_jsonl(run_dir / "events" / "requests.locust.jsonl", make_requests(10))

    counts = compact_events(run_dir / "events")

    assert counts == {"requests": 10}
    assert not list((run_dir / "events").glob("*.jsonl"))


def test_malformed_part_aborts_compaction_of_that_table(make_run: MakeRun) -> None:
    run_dir = make_run()
    (run_dir / "events" / "calls.gateway.jsonl").write_text('[1]\n{"t_start": 1.0}\n')

    with pytest.raises(RunFileError, match="expected one JSON object per line"):
        compact_events(run_dir / "events")

    assert (run_dir / "events" / "calls.gateway.jsonl").exists()
    assert not (run_dir / "events" / "calls.parquet").exists()


def test_undocumented_tables_are_compacted_too(make_run: MakeRun, write_jsonl: Callable[..., None]) -> None:
    run_dir = make_run()
    write_jsonl(run_dir / "events" / "pool.gateway.jsonl", [{"t": 1.0, "size": 4}, {"t": 2.0, "size": "x"}])

    counts = compact_events(run_dir / "events")

    assert counts == {"pool": 2}


def test_compacting_a_missing_events_directory_does_nothing(tmp_path: Path) -> None:
    assert compact_events(tmp_path / "events") == {}

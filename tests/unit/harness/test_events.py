"""The JSONL event writer: buffering, flushing by count and by time, closing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.events import EventWriter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(path: Path) -> list[dict[str, object]]:
    text = path.read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def test_rows_are_buffered_until_the_row_limit(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, "calls", "gw", flush_rows=3, flush_interval_s=60, clock=FakeClock())
    writer.write({"a": 1})
    writer.write({"a": 2})
    assert lines(writer.path) == []
    writer.write({"a": 3})
    assert [r["a"] for r in lines(writer.path)] == [1, 2, 3]


def test_rows_are_flushed_once_the_interval_has_passed(tmp_path: Path) -> None:
    clock = FakeClock()
    writer = EventWriter(tmp_path, "calls", "gw", flush_rows=1000, flush_interval_s=1.0, clock=clock)
    writer.write({"a": 1})
    assert lines(writer.path) == []
    clock.now = 1.0
    writer.write({"a": 2})
    assert len(lines(writer.path)) == 2


def test_close_flushes_and_later_writes_are_ignored(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, "breaker", "gw", flush_rows=1000, clock=FakeClock())
    writer.write({"a": 1})
    writer.close()
    writer.write({"a": 2})
    writer.close()
    assert lines(writer.path) == [{"a": 1}]


def test_file_name_follows_the_table_and_source_contract(tmp_path: Path) -> None:
    writer = EventWriter(tmp_path, "requests", "local/7 x")
    assert writer.path == tmp_path / "requests.local_7_x.jsonl"


def test_an_unknown_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown event table 'request'"):
        EventWriter(tmp_path, "request", "gw")


def test_appending_after_a_torn_line_starts_a_fresh_line(tmp_path: Path) -> None:
    path = tmp_path / "calls.gw.jsonl"
    path.write_text('{"a": 1}\n{"a": 2, "b', encoding="utf-8")
    writer = EventWriter(tmp_path, "calls", "gw", flush_rows=1)
    writer.write({"a": 3})
    writer.close()
    assert path.read_text(encoding="utf-8").splitlines() == ['{"a": 1}', '{"a": 2, "b', '{"a":3}']

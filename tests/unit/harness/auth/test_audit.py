"""The audit log: JSON lines, rotation, a bounded queue that drops instead of blocking, queries by user."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from harness.auth import AuditLog, query_audit


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_events_are_written_as_json_lines_time_and_event_first(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", clock=lambda: 5.0)
    assert log.record("grant", user="alice", server="weather", tool="get_forecast", permission="weather:read")
    log.close()
    [row] = lines(tmp_path / "audit.jsonl")
    assert row == {
        "event": "grant",
        "permission": "weather:read",
        "server": "weather",
        "t": 5.0,
        "tool": "get_forecast",
        "user": "alice",
    }
    assert (tmp_path / "audit.jsonl").read_text().startswith('{"t":5.0,"event":"grant","user":"alice"')
    assert log.written == 1 and log.dropped == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", queue_size=3, autostart=False)
    accepted = [log.record("deny", user=f"u{i}") for i in range(5)]
    assert accepted == [True, True, True, False, False]
    assert log.dropped == 2
    log.start()
    assert log.flush(5.0)
    log.close()
    assert [r["user"] for r in lines(tmp_path / "audit.jsonl")] == ["u0", "u1", "u2"]


def test_close_writes_everything_queued(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl", autostart=False)
    for i in range(2500):
        log.record("grant", user="u", n=i)
    log.start()
    log.close()
    assert [r["n"] for r in lines(tmp_path / "a.jsonl")] == list(range(2500))
    assert not log.record("grant", user="late")  # closed: counted, not written
    assert log.dropped == 1


def test_the_file_rotates_by_size_keeping_backup_count_files(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=1024, backup_count=2, autostart=False)
    for i in range(100):
        log.record("grant", user="u", n=i, pad="x" * 40)
    log.start()
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    assert all(p.stat().st_size <= 1024 for p in tmp_path.iterdir())
    kept = [
        r["n"]
        for p in (path.with_name("audit.jsonl.2"), path.with_name("audit.jsonl.1"), path)
        for r in lines(p)
    ]
    assert kept == list(range(100 - len(kept), 100))  # the newest, in order, nothing torn


def test_without_backups_the_file_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=1024, backup_count=0, autostart=False)
    for i in range(100):
        log.record("grant", n=i, pad="x" * 40)
    log.start()
    log.close()
    assert [p.name for p in tmp_path.iterdir()] == ["audit.jsonl"]
    assert lines(path)[-1]["n"] == 99


def test_an_existing_file_is_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    for n in range(2):
        log = AuditLog(path)
        log.record("grant", n=n)
        log.close()
    assert [r["n"] for r in lines(path)] == [0, 1]


def test_write_failures_are_counted_and_reported_once(tmp_path: Path) -> None:
    errlog = io.StringIO()
    log = AuditLog(tmp_path / "a.jsonl", errlog=errlog, autostart=False)

    class Broken(io.StringIO):
        def write(self, s: str) -> int:
            raise OSError(28, "No space left on device")

    log._file.close()
    log._file = Broken()
    for i in range(3):
        log.record("grant", n=i)
    log.start()
    assert log.flush(5.0)
    log.close()
    assert (log.written, log.write_errors) == (0, 3)
    assert errlog.getvalue().count("cannot write") == 1


def test_queries_select_a_user_across_rotated_files_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=2048, backup_count=50, autostart=False)
    for i in range(60):
        log.record("grant", user="alice" if i % 3 == 0 else "bob", n=i, pad="y" * 30)
    log.record("authn_failure", reason="expired", claimed_user="alice", n=60)
    log.start()
    log.close()
    assert len(list(tmp_path.iterdir())) > 2
    alice = query_audit(path, user="alice")
    assert [r["n"] for r in alice] == [*range(0, 60, 3), 60]
    assert [r["n"] for r in query_audit(path, user="alice", limit=2)] == [57, 60]
    assert [r["n"] for r in query_audit(path, user="alice", event="authn_failure")] == [60]
    assert query_audit(path, user="carol") == []


def test_a_torn_last_line_is_skipped_by_queries(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text('{"event":"grant","user":"a"}\n{"event":"gra', encoding="utf-8")
    assert query_audit(path, user="a") == [{"event": "grant", "user": "a"}]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="queue_size"):
        AuditLog(tmp_path / "a", queue_size=0)
    with pytest.raises(ValueError, match="limit"):
        query_audit(tmp_path / "a", limit=0)


def test_the_audit_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, max_bytes=1024, backup_count=1, autostart=False)
    for i in range(50):
        log.record("grant", n=i, pad="z" * 40)
    log.start()
    log.close()
    assert {oct(p.stat().st_mode & 0o777) for p in tmp_path.iterdir()} == {"0o600"}

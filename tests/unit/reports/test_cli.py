"""The reports CLI: exit codes, the verdict block and compaction, called through main()."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reports.cli import main

MakeRun = Callable[..., Path]
MakeRequests = Callable[..., list[dict[str, Any]]]


def test_render_exits_zero_when_every_sla_holds(
    make_run: MakeRun, make_requests: MakeRequests, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(100, {"error": 1})})

    code = main(["render", str(run_dir)])

    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0] == "chaosbench smoke: PASS (exit 0)"
    assert "  PASS  errors under 5%: 1% (threshold <= 5%)" in out
    assert f"report: {run_dir / 'report' / 'report.md'}" in out
    assert (run_dir / "report" / "summary.json").is_file()


def test_render_exits_one_when_an_sla_fails(
    make_run: MakeRun, make_requests: MakeRequests, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(100, {"error": 10})})

    code = main(["render", str(run_dir)])

    assert code == 1
    assert "  FAIL  errors under 5%: 10% (threshold <= 5%)" in capsys.readouterr().out


def test_render_exits_three_when_the_run_itself_failed(
    make_run: MakeRun, make_requests: MakeRequests, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(
        status="failed", reason="gateway would not start", tables={"requests": make_requests(10)}
    )

    code = main(["render", str(run_dir)])

    assert code == 3
    assert "run failed: gateway would not start" in capsys.readouterr().out


def test_render_of_a_non_run_dir_exits_two_with_a_message_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["render", str(tmp_path)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert "not a run directory: scenario.yaml is missing" in captured.err
    assert str(tmp_path) in captured.err


def test_render_of_unreadable_input_exits_two(make_run: MakeRun, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = make_run()
    (run_dir / "run.json").write_text("{broken")

    assert main(["render", str(run_dir)]) == 2
    assert "run.json: cannot parse file" in capsys.readouterr().err


def test_unexpected_exception_exits_three_with_a_traceback(
    make_run: MakeRun, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(run_dir: Path) -> None:
        raise RuntimeError("bug in the renderer")

    monkeypatch.setattr("reports.cli.render_run", explode)

    assert main(["render", str(make_run())]) == 3
    err = capsys.readouterr().err
    assert "Traceback" in err
    assert "RuntimeError: bug in the renderer" in err


def test_quiet_render_prints_nothing_but_keeps_the_exit_code(
    make_run: MakeRun, make_requests: MakeRequests, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(100, {"error": 10})})

    assert main(["render", str(run_dir), "--quiet"]) == 1
    assert capsys.readouterr().out == ""


def test_sla_without_data_shows_why_in_the_verdict_block(
    make_run: MakeRun, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", str(make_run())]) == 1
    assert "FAIL  p95 under 1 s: n/a (threshold <= 1 s) — no requests recorded" in capsys.readouterr().out


def test_compact_exits_zero_and_reports_row_counts(
    make_run: MakeRun, make_requests: MakeRequests, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = make_run(tables={"requests": make_requests(7)})

    assert main(["compact", str(run_dir)]) == 0
    assert "requests 7" in capsys.readouterr().out
    assert (run_dir / "events" / "requests.parquet").is_file()


def test_compact_of_a_non_run_dir_exits_two(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compact", str(tmp_path / "missing")]) == 2
    assert "not a run directory: no such directory" in capsys.readouterr().err


def test_usage_errors_exit_two(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["explode", "x"]) == 2
    assert "usage:" in capsys.readouterr().err

"""The command line's refusals, checked in-process: none of these cases starts a server."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from anyio import ClosedResourceError

from fault_servers.cli import SERVER_BUILDERS, _SessionCloseNoise, is_loopback_host, main


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "localhost", "LOCALHOST", "::1", "[::1]"])
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.5", "example.com", ""])
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert not is_loopback_host(host)


def test_a_non_loopback_http_host_is_refused_with_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "weather", "--transport", "http", "--host", "0.0.0.0"])

    assert code == 2
    assert "refusing to serve on non-loopback host '0.0.0.0'" in capsys.readouterr().err


def test_a_bad_fault_file_exits_2_naming_the_file_and_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - kind: error\n    probability: 3\n")

    code = main(["serve", "weather", "--faults", str(path)])

    assert code == 2
    assert f"{path}: faults[0].probability: expected a number in [0, 1]" in capsys.readouterr().err


def test_a_fault_file_naming_an_unknown_tool_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - kind: error\n    tools: [get_weather]\n")

    code = main(["serve", "weather", "--faults", str(path)])

    assert code == 2
    assert "faults[0].tools[0]: unknown tool 'get_weather'" in capsys.readouterr().err


def test_an_unknown_server_name_exits_2_listing_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "mailserver"])

    assert code == 2
    assert "invalid choice: 'mailserver'" in capsys.readouterr().err


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_an_invalid_port_exits_2(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "weather", "--transport", "http", "--port", port]) == 2
    assert "expected a port number from 1 to 65535" in capsys.readouterr().err


def test_help_exits_0_and_describes_the_transports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    assert "--transport {stdio,http}" in capsys.readouterr().out


def test_the_registry_holds_the_weather_server() -> None:
    assert set(SERVER_BUILDERS) >= {"weather"}


def record(message: str, exc: BaseException | None) -> logging.LogRecord:
    exc_info = (type(exc), exc, None) if exc is not None else None
    name = "mcp.server.streamable_http"
    return logging.LogRecord(name, logging.ERROR, __file__, 1, message, None, exc_info)


def test_the_sdk_session_close_traceback_is_dropped_and_other_errors_kept() -> None:
    noise = _SessionCloseNoise()

    assert not noise.filter(record("Error in standalone SSE writer", ClosedResourceError()))
    assert noise.filter(record("Error in standalone SSE writer", RuntimeError("real")))
    assert noise.filter(record("Error in SSE writer", ClosedResourceError()))


def test_an_http_only_fault_over_stdio_exits_2_naming_the_key_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("faults:\n  - {kind: error}\n  - {kind: http_status, status: 503}\n")

    code = main(["serve", "weather", "--transport", "stdio", "--faults", str(path)])

    assert code == 2
    assert f"{path}: faults[1].kind: 'http_status' needs the http transport" in capsys.readouterr().err


def test_an_unknown_tool_on_the_timeline_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "faults.yaml"
    path.write_text("timeline:\n  - {at_s: 1, fault: {kind: hang, tools: [get_weather]}}\n")

    code = main(["serve", "weather", "--faults", str(path)])

    assert code == 2
    assert "timeline[0].fault.tools[0]: unknown tool 'get_weather'" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["soon", "nan", "-5"])
def test_a_run_start_that_is_not_unix_seconds_exits_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "weather", f"--run-start={value}"]) == 2
    assert "expected Unix seconds" in capsys.readouterr().err


def test_an_events_dir_that_cannot_be_created_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    code = main(["serve", "weather", "--events-dir", str(blocker / "events")])

    assert code == 2
    assert "cannot create the events directory" in capsys.readouterr().err


def test_help_lists_the_fault_timeline_and_event_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--run-start EPOCH" in out and "--events-dir DIR" in out and "--name NAME" in out

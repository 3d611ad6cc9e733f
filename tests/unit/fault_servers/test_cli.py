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
    code = main(["serve", "database"])

    assert code == 2
    assert "invalid choice: 'database'" in capsys.readouterr().err


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

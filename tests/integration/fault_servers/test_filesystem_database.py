"""The filesystem server over stdio and the database server over HTTP, as real processes and real clients."""

from __future__ import annotations

import os
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

import anyio
import httpx
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from .conftest import STOP_WAIT_S, HttpServer, free_port, stop, wait_until_healthy

pytestmark = pytest.mark.integration

SESSION_WAIT_S = 30.0
SECRET = "S3CR3T-integration-outside-the-root"
INITIALIZE = (
    b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18",'
    b'"capabilities":{},"clientInfo":{"name":"test","version":"0"}}}\n'
)


def command(server: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "fault_servers", "serve", server, *args]


def text_of(result: CallToolResult) -> str:
    content = result.content[0]
    assert isinstance(content, TextContent)
    return content.text


async def stdio_calls(
    args: list[str], calls: list[tuple[str, dict[str, Any]]], env: dict[str, str] | None = None
) -> list[CallToolResult]:
    """Spawn a stdio filesystem server, make `calls` in one session; the process ends with the session."""
    argv = command("filesystem", "--transport", "stdio", *args)
    params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
    with anyio.fail_after(SESSION_WAIT_S):
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            return [await session.call_tool(tool, arguments) for tool, arguments in calls]


async def http_calls(server: HttpServer, calls: list[tuple[str, dict[str, Any]]]) -> list[CallToolResult]:
    with anyio.fail_after(SESSION_WAIT_S):
        async with (
            streamable_http_client(server.mcp_url) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            return [await session.call_tool(tool, arguments) for tool, arguments in calls]


def wait_until_empty(directory: Path) -> list[str]:
    """Poll (bounded) until `directory` is empty; returns what is left."""
    deadline = time.monotonic() + STOP_WAIT_S
    while (left := sorted(p.name for p in directory.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def sigterm(process: subprocess.Popen[bytes]) -> int:
    """Send SIGTERM until `process` exits (at most 3 times); returns its exit code.

    A SIGTERM that lands while asyncio is running a callback is caught and logged
    by the loop instead of stopping the stdio server (a race in the CLI's stop
    handler, weather included); tests here are about what happens at exit, so
    an unanswered signal is sent again.
    """
    for _ in range(3):
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(STOP_WAIT_S / 2)
        except subprocess.TimeoutExpired:
            continue
    pytest.fail("the server did not exit after 3 SIGTERMs")


class StartDatabase(Protocol):
    def __call__(self, *args: str, tmpdir: Path | None = None) -> HttpServer: ...


@pytest.fixture
def start_database(tmp_path: Path) -> Iterator[StartDatabase]:
    """Start HTTP database servers with extra CLI args; every one is stopped at teardown, even on failure."""
    started: list[HttpServer] = []

    def start(*args: str, tmpdir: Path | None = None) -> HttpServer:
        port = free_port()
        log_path = tmp_path / f"database-{port}.log"
        env = {**os.environ, "TMPDIR": str(tmpdir)} if tmpdir is not None else None
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command("database", "--transport", "http", "--port", str(port), *args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        server = HttpServer(process=process, port=port, log_path=log_path)
        started.append(server)
        wait_until_healthy(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop(server.process)


async def test_the_stdio_filesystem_server_serves_its_root_and_refuses_traversal(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    (root / "escape").symlink_to(tmp_path)

    listed, read, written, climbed, through_link, absolute = await stdio_calls(
        ["--root", str(root)],
        [
            ("list_files", {}),
            ("read_file", {"path": "hello.txt"}),
            ("write_file", {"path": "out/new.txt", "content": "made over stdio"}),
            ("read_file", {"path": "../secret.txt"}),
            ("read_file", {"path": "escape/secret.txt"}),
            ("write_file", {"path": str(tmp_path / "planted.txt"), "content": "x"}),
        ],
    )

    assert not listed.isError
    assert listed.structuredContent is not None
    assert [entry["name"] for entry in listed.structuredContent["entries"]] == ["escape", "hello.txt"]
    assert read.structuredContent == {"path": "hello.txt", "content": "hello\n", "size_bytes": 6}
    assert not written.isError
    assert (root / "out" / "new.txt").read_text() == "made over stdio"
    assert climbed.isError
    assert "path '../secret.txt' climbs out of the root with '..'" in text_of(climbed)
    assert through_link.isError
    assert "resolves outside the root through a symlink" in text_of(through_link)
    assert absolute.isError
    assert "is absolute; give a path relative to the root" in text_of(absolute)
    assert all(SECRET not in text_of(result) for result in (climbed, through_link, absolute))
    assert not (tmp_path / "planted.txt").exists()


async def test_the_stdio_filesystem_server_removes_its_temporary_root_when_the_session_ends(
    tmp_path: Path,
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()

    (readme,) = await stdio_calls(
        ["--seed", "9"], [("read_file", {"path": "README.txt"})], env={"TMPDIR": str(tmpdir)}
    )

    assert readme.structuredContent is not None
    assert "seed 9" in readme.structuredContent["content"]
    assert wait_until_empty(tmpdir) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_the_stdio_filesystem_server_removes_its_temporary_root_on_sigterm(tmp_path: Path) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    process = subprocess.Popen(
        command("filesystem", "--transport", "stdio"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmpdir)},
    )
    try:
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write(INITIALIZE)
        process.stdin.flush()
        readable, _, _ = select.select([process.stdout], [], [], SESSION_WAIT_S)
        assert readable, "no answer to initialize"
        assert b'"id":1' in process.stdout.readline()
        assert len(list(tmpdir.iterdir())) == 1

        code = sigterm(process)

        assert code == 0
        assert list(tmpdir.iterdir()) == []
    finally:
        stop(process)
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None:
                stream.close()


async def test_a_fault_file_fails_the_targeted_filesystem_tool_over_stdio(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("faults:\n  - kind: error\n    message: disk on fire\n    tools: [write_file]\n")

    written, listed = await stdio_calls(
        ["--root", str(tmp_path), "--faults", str(faults)],
        [("write_file", {"path": "x.txt", "content": "x"}), ("list_files", {"path": "."})],
    )

    assert written.isError
    assert "disk on fire" in text_of(written)
    assert not (tmp_path / "x.txt").exists()
    assert not listed.isError


async def test_the_http_database_server_serves_the_tools_and_refuses_injection(
    start_database: StartDatabase, tmp_path: Path
) -> None:
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    server = start_database("--seed", "4", tmpdir=tmpdir)

    health = httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=5.0)
    queried, literal, bad_table, bad_column, inserted, updated = await http_calls(
        server,
        [
            ("query", {"table": "cities", "filters": {"country": "NO"}}),
            ("query", {"table": "cities", "filters": {"name": "x' OR '1'='1"}}),
            ("query", {"table": "cities; DROP TABLE cities; --"}),
            ("update", {"table": "cities", "values": {"population = 0 --": 1}, "filters": {"id": 1}}),
            ("insert", {"table": "cities", "row": {"name": "Rome'); --", "country": "IT", "population": 1}}),
            ("update", {"table": "cities", "values": {"population": 2}, "filters": {"country": "IT"}}),
        ],
    )

    assert health.json() == {"status": "ok", "server": "database", "tables": ["cities", "readings"]}
    assert queried.structuredContent is not None
    assert [row["name"] for row in queried.structuredContent["rows"]] == ["Oslo"]
    assert literal.structuredContent is not None
    assert literal.structuredContent["rows"] == []
    assert bad_table.isError
    assert "unknown table 'cities; DROP TABLE cities; --'; expected one of cities, readings" in text_of(
        bad_table
    )
    assert bad_column.isError
    assert "unknown column 'population = 0 --' in table 'cities'" in text_of(bad_column)
    assert inserted.structuredContent == {"table": "cities", "inserted": 1, "rowid": 9}
    assert updated.structuredContent == {"table": "cities", "updated": 1}

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(STOP_WAIT_S) == 0, server.log()
    assert list(tmpdir.iterdir()) == []


async def test_the_http_database_server_writes_to_the_file_it_was_given(
    start_database: StartDatabase, tmp_path: Path
) -> None:
    path = tmp_path / "given.sqlite3"
    server = start_database("--db", str(path))

    (inserted,) = await http_calls(
        server,
        [("insert", {"table": "readings", "row": {"city_id": 2, "temperature_c": -3.5, "taken_at": "t"}})],
    )
    stop(server.process)

    assert not inserted.isError
    with closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("SELECT city_id, temperature_c FROM readings WHERE taken_at = 't'").fetchall()
    assert rows == [(2, -3.5)]

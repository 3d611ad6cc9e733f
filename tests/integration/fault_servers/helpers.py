"""Clients for the fault-kind integration tests: real MCP sessions and raw JSON-RPC over pipes."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.session import RequestResponder
from mcp.types import ClientResult, ServerNotification, ServerRequest

from .conftest import STOP_WAIT_S, serve_command, stop

SESSION_WAIT_S = 20.0
PROTOCOL_VERSION = "2025-06-18"


def write_faults(tmp_path: Path, text: str, name: str = "faults.yaml") -> str:
    """Write a fault file and return its path."""
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def leaves(exc: BaseException) -> list[BaseException]:
    """Every exception inside (nested) exception groups, or `exc` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaves(inner)]
    return [exc]


@dataclass
class Received:
    """What a ClientSession's message handler was given besides responses: exceptions included."""

    exceptions: list[Exception] = field(default_factory=list)

    async def __call__(
        self,
        message: RequestResponder[ServerRequest, ClientResult] | ServerNotification | Exception,
    ) -> None:
        if isinstance(message, Exception):
            self.exceptions.append(message)


@asynccontextmanager
async def http_session(url: str, received: Received | None = None) -> AsyncIterator[ClientSession]:
    """An initialized MCP session over streamable HTTP."""
    async with (
        streamable_http_client(url) as (read, write, _),
        ClientSession(read, write, message_handler=received) as session,
    ):
        await session.initialize()
        yield session


@asynccontextmanager
async def stdio_session(*args: str, received: Received | None = None) -> AsyncIterator[ClientSession]:
    """Spawn ``serve weather`` over stdio with `args` and yield an initialized session; the SDK stops it."""
    command = serve_command(*args)
    params = StdioServerParameters(command=command[0], args=command[1:])
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, message_handler=received) as session,
    ):
        await session.initialize()
        yield session


class RawStdio:
    """A stdio server driven line by line, to see exactly what it writes and how it exits."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._next_id = 1

    def send(self, method: str, params: dict[str, Any] | None = None, *, notify: bool = False) -> int:
        """Write one JSON-RPC request (or notification) line; returns the request id."""
        assert self.process.stdin is not None
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        request_id = self._next_id
        if not notify:
            message["id"] = request_id
            self._next_id += 1
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()
        return request_id

    def read(self, timeout_s: float = SESSION_WAIT_S) -> bytes:
        """Everything the server writes until a newline, EOF or `timeout_s` (whichever comes first)."""
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        data = b""
        deadline = time.monotonic() + timeout_s
        while not data.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            data += chunk
        return data

    def initialize(self) -> dict[str, Any]:
        """Initialize the session; returns the initialize response."""
        capabilities: dict[str, Any] = {}
        client = {"name": "raw", "version": "0"}
        params = {"protocolVersion": PROTOCOL_VERSION, "capabilities": capabilities, "clientInfo": client}
        self.send("initialize", params)
        response: dict[str, Any] = json.loads(self.read())
        self.send("notifications/initialized", notify=True)
        return response

    def call(self, tool: str, arguments: dict[str, Any]) -> int:
        """Send a tools/call request; returns its id."""
        return self.send("tools/call", {"name": tool, "arguments": arguments})

    def wait(self, timeout_s: float = STOP_WAIT_S) -> int:
        """The exit code, waiting at most `timeout_s`."""
        return self.process.wait(timeout_s)


@contextmanager
def raw_stdio(*args: str, stderr: Path | None = None) -> Iterator[RawStdio]:
    """Start ``serve weather`` over stdio with pipes; always stopped (SIGTERM, then SIGKILL) at the end."""
    log = stderr.open("wb") if stderr is not None else None
    process = subprocess.Popen(
        serve_command(*args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    try:
        yield RawStdio(process)
    finally:
        stop(process)
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        if log is not None:
            log.close()


async def wait_for_exit(process: subprocess.Popen[bytes], timeout_s: float = STOP_WAIT_S) -> int:
    """Wait (in a thread, bounded) for `process` to exit; returns its code."""
    with anyio.fail_after(timeout_s + 5):
        return await anyio.to_thread.run_sync(process.wait, timeout_s)


def read_rows(events_dir: Path) -> list[dict[str, Any]]:
    """Every fault row written under `events_dir`, in file then line order."""
    rows: list[dict[str, Any]] = []
    for path in sorted(events_dir.glob("faults.*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text().splitlines())
    return rows

"""Starting real fault server processes on 127.0.0.1 and always stopping them."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
import pytest

HEALTH_WAIT_S = 20.0
STOP_WAIT_S = 10.0


def serve_command(*args: str) -> list[str]:
    """The argv that runs ``python -m fault_servers serve weather`` with `args`."""
    return [sys.executable, "-m", "fault_servers", "serve", "weather", *args]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class HttpServer:
    """A running HTTP fault server process."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return f"{self.base_url}/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class StartHttpServer(Protocol):
    def __call__(self, *args: str, ready: bool = True) -> HttpServer: ...


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate, then kill, a process that is still running; never waits unboundedly."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_WAIT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_WAIT_S)


def wait_until_healthy(server: HttpServer) -> None:
    """Poll GET /healthz for up to HEALTH_WAIT_S; fail with the server's log if it dies or never answers."""
    deadline = time.monotonic() + HEALTH_WAIT_S
    url = f"http://127.0.0.1:{server.port}/healthz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"server exited with {server.process.returncode} before it was ready:\n{server.log()}"
            )
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    pytest.fail(f"server not healthy after {HEALTH_WAIT_S} s:\n{server.log()}")


@pytest.fixture
def start_http_server(tmp_path: Path) -> Iterator[StartHttpServer]:
    """Start HTTP weather servers with extra CLI args; every one is stopped at teardown, even on failure.

    With ``ready=False`` it returns at once instead of waiting for ``GET /healthz`` to answer 200.
    """
    started: list[HttpServer] = []

    def start(*args: str, ready: bool = True) -> HttpServer:
        port = free_port()
        log_path = tmp_path / f"server-{port}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                serve_command("--transport", "http", "--port", str(port), *args),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = HttpServer(process=process, port=port, log_path=log_path)
        started.append(server)
        if ready:
            wait_until_healthy(server)
        return server

    try:
        yield start
    finally:
        for server in started:
            stop(server.process)

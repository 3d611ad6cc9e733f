"""Real weather servers in real processes on 127.0.0.1, always stopped after the test."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harness.netutil import free_port


@dataclass
class HttpServer:
    port: int
    proc: subprocess.Popen[bytes]
    argv: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"


def faults_file(tmp_path: Path, faults: list[dict[str, Any]]) -> Path:
    path = tmp_path / f"faults-{len(list(tmp_path.glob('faults-*')))}.yaml"
    path.write_text(yaml.safe_dump({"faults": faults}), encoding="utf-8")
    return path


def stdio_command(tmp_path: Path, faults: list[dict[str, Any]] | None = None) -> list[str]:
    argv = [sys.executable, "-m", "fault_servers", "serve", "weather", "--transport", "stdio", "--seed", "1"]
    if faults:
        argv += ["--faults", str(faults_file(tmp_path, faults))]
    return argv


def wait_healthy(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"server on port {port} not healthy within {timeout_s}s")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[Callable[..., HttpServer]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(faults: list[dict[str, Any]] | None = None, port: int | None = None) -> HttpServer:
        port = port or free_port()
        argv = [
            sys.executable,
            "-m",
            "fault_servers",
            "serve",
            "weather",
            "--transport",
            "http",
            "--port",
            str(port),
            "--seed",
            "1",
        ]
        if faults:
            argv += ["--faults", str(faults_file(tmp_path, faults))]
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        started.append(proc)
        wait_healthy(port, proc)
        return HttpServer(port, proc, argv)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

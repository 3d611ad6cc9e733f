"""Suite-wide checks. Every test is checked for leaked processes: anything it started
(a server, a gateway, a Locust run) must be gone when it ends."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import psutil
import pytest

pytest_plugins = ["pytester"]

#: How long a test's processes may take to finish exiting after the test returns.
LEAK_GRACE_S = 10.0


def _descendants() -> dict[int, str]:
    found: dict[int, str] = {}
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                found[child.pid] = " ".join(child.cmdline())[:200]
        except psutil.Error:
            continue
    return found


@pytest.fixture(autouse=True)
def no_leaked_processes() -> Iterator[None]:
    before = set(_descendants())
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    leaked = {pid: cmd for pid, cmd in _descendants().items() if pid not in before}
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = {pid: cmd for pid, cmd in _descendants().items() if pid not in before}
    for pid in leaked:  # do not let one leak break every later test
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
    assert not leaked, f"the test left processes running: {leaked}"

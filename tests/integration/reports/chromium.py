"""Open a local HTML file in headless Chromium, offline, and report what the browser saw.

Chromium is driven over the DevTools protocol on ``--remote-debugging-pipe``
(JSON messages separated by NUL bytes on file descriptors 3 and 4), so no port
is opened and nothing but the standard library is needed. The browser runs in
its own session with its own temporary profile; :func:`open_offline` always
stops it (Browser.close, then SIGKILL to its process group) and checks that no
process using that profile is left.

What is collected while the page loads (network emulated offline, every host
name unresolvable, a dead proxy, so a page that needs the network shows it):

- ``errors``: uncaught exceptions, ``console.error``/``console.assert``/
  ``console.warn`` calls, browser log entries of level warning or error
  (failed loads, Content-Security-Policy violations) and failed requests;
- ``requests``: every URL the page asked for that is not ``file:`` or ``data:``;
- ``images``: per ``<img>``: the start of its ``src``, whether it decoded, its
  natural size and how many distinct colours its on-screen pixels have.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import io
import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from matplotlib.image import imread

CHROMIUM = Path("/usr/bin/chromium")

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-crash-reporter",
    "--disable-breakpad",
    "--mute-audio",
    "--proxy-server=127.0.0.1:9",  # discard port: any request that got past the rules below fails
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--window-size=1280,1000",
    "--remote-debugging-pipe",
)

_IMAGES_JS = """
(async () => {
  const images = [...document.images];
  const decoded = await Promise.all(images.map((i) => i.decode().then(() => true, () => false)));
  return images.map((image, k) => {
    const box = image.getBoundingClientRect();
    return {
      src: image.getAttribute("src").slice(0, 30), decoded: decoded[k], complete: image.complete,
      width: image.naturalWidth, height: image.naturalHeight,
      x: box.left + window.scrollX, y: box.top + window.scrollY, w: box.width, h: box.height,
    };
  });
})()
"""


@dataclass
class PageReport:
    """What the browser saw while opening one page."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    title: str = ""


class ChromiumError(AssertionError):
    """The browser did not do what the test needed (did not start, answer or load in time)."""


def open_offline(page: Path, profile_dir: Path, timeout_s: float = 60.0) -> PageReport:
    """Load ``page`` in headless Chromium with no network and return what happened.

    Raises:
        ChromiumError: Chromium did not start, answer or finish loading within ``timeout_s``
            (the message has the end of its stderr).
    """
    deadline = time.monotonic() + timeout_s
    to_browser_r, to_browser_w = _high_pipe()
    from_browser_r, from_browser_w = _high_pipe()
    stderr_path = profile_dir.with_suffix(".stderr.log")
    # Chromium reads commands from fd 3 and writes answers to fd 4: bash puts the pipes there
    # (dash, /bin/sh on Debian, cannot name descriptors above 9).
    redirect = f'exec "$@" 3<&{to_browser_r} 4>&{from_browser_w} {to_browser_r}<&- {from_browser_w}>&-'
    argv = [
        "/bin/bash",
        "-c",
        redirect,
        "bash",
        str(CHROMIUM),
        *FLAGS,
        f"--user-data-dir={profile_dir}",
        "about:blank",
    ]
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            pass_fds=(to_browser_r, from_browser_w),
            start_new_session=True,
        )
    os.close(to_browser_r)
    os.close(from_browser_w)
    messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
    reader = threading.Thread(target=_read_messages, args=(from_browser_r, messages), daemon=True)
    reader.start()
    try:
        client = _Client(to_browser_w, messages, deadline, stderr_path)
        report = _load(client, page)
        with contextlib.suppress(ChromiumError, OSError):
            client.send("Browser.close")
        return report
    finally:
        _stop(proc, deadline)
        with contextlib.suppress(OSError):
            os.close(to_browser_w)
        reader.join(timeout=5)
        _assert_no_process_uses(profile_dir)


def _load(client: _Client, page: Path) -> PageReport:
    target = client.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = client.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for method in ("Runtime.enable", "Log.enable", "Page.enable", "Network.enable"):
        client.send(method, session=session)
    offline = {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}
    client.send("Network.emulateNetworkConditions", offline, session=session)
    client.send("Page.navigate", {"url": page.resolve().as_uri()}, session=session)
    client.wait_event("Page.loadEventFired", session)
    images = client.evaluate(_IMAGES_JS, session)
    for image in images:
        image["colors"] = _distinct_colors(client, session, image) if image["w"] and image["h"] else 0
    title = client.evaluate("document.title", session)
    report = PageReport(images=images, title=str(title))
    for event in client.events:
        if event.get("sessionId") == session:
            _collect(event, report)
    return report


def _collect(event: dict[str, Any], report: PageReport) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.exceptionThrown":
        details = params["exceptionDetails"]
        report.errors.append(
            f"uncaught: {details.get('exception', {}).get('description') or details.get('text')}"
        )
    elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert", "warning"):
        args = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
        report.errors.append(f"console.{params['type']}: {args}")
    elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
        entry = params["entry"]
        report.errors.append(
            f"log {entry['level']} ({entry['source']}): {entry['text']} {entry.get('url', '')}"
        )
    elif method == "Network.loadingFailed":
        report.errors.append(f"request failed: {params.get('errorText')}")
    elif method == "Network.requestWillBeSent":
        url = params["request"]["url"]
        if not url.startswith(("file:", "data:")):
            report.requests.append(url)


def _distinct_colors(client: _Client, session: str, image: dict[str, Any]) -> int:
    """Screenshot the image where it is on the page and count the distinct colours painted there."""
    clip = {"x": image["x"], "y": image["y"], "width": image["w"], "height": image["h"], "scale": 1}
    shot = client.send(
        "Page.captureScreenshot",
        {"format": "png", "clip": clip, "captureBeyondViewport": True},
        session=session,
    )
    pixels = np.round(imread(io.BytesIO(base64.b64decode(shot["data"])), format="png") * 255).astype(
        np.uint32
    )
    packed = sum(pixels[..., channel] << (8 * channel) for channel in range(pixels.shape[-1]))
    return len(np.unique(packed))


class _Client:
    def __init__(
        self, write_fd: int, messages: queue.Queue[dict[str, Any] | None], deadline: float, stderr: Path
    ) -> None:
        self._write_fd = write_fd
        self._messages = messages
        self._deadline = deadline
        self._stderr = stderr
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._write_fd, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._next(f"an answer to {method}")
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise ChromiumError(f"{method} failed: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method and event.get("sessionId") == session:
                return event
        while True:
            event = self._next(method)
            self.events.append(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return event

    def evaluate(self, expression: str, session: str) -> Any:
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=session,
        )
        if "exceptionDetails" in result:
            raise ChromiumError(f"evaluating the test's script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _next(self, waiting_for: str) -> dict[str, Any]:
        left = self._deadline - time.monotonic()
        try:
            message = self._messages.get(timeout=max(left, 0.01))
        except queue.Empty:
            raise ChromiumError(f"timed out waiting for {waiting_for}; stderr:\n{self._tail()}") from None
        if message is None:
            raise ChromiumError(
                f"Chromium closed the pipe while we waited for {waiting_for}; stderr:\n{self._tail()}"
            )
        return message

    def _tail(self) -> str:
        try:
            return "\n".join(self._stderr.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no stderr)"


def _read_messages(fd: int, messages: queue.Queue[dict[str, Any] | None]) -> None:
    buffer = b""
    try:
        while chunk := os.read(fd, 1 << 16):
            buffer += chunk
            *complete, buffer = buffer.split(b"\0")
            for raw in complete:
                messages.put(json.loads(raw))
    finally:
        os.close(fd)
        messages.put(None)


def _high_pipe() -> tuple[int, int]:
    """A pipe whose ends are numbered 10 or more, so the shell's ``3<&N 4>&M`` never clobbers one."""
    ends = []
    for fd in os.pipe():
        ends.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
        os.close(fd)
    return ends[0], ends[1]


def _stop(proc: subprocess.Popen[bytes], deadline: float) -> None:
    """Wait for the browser to exit after Browser.close; then SIGKILL its whole process group."""
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=max(1.0, min(10.0, deadline - time.monotonic())))
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # its own session: only the browser's processes are in it
    proc.wait(timeout=10)


def _assert_no_process_uses(profile_dir: Path) -> None:
    marker = f"--user-data-dir={profile_dir}"
    deadline = time.monotonic() + 10
    while True:
        left = []
        for process in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if marker in (process.info["cmdline"] or []):
                    left.append(process.info["pid"])
        if not left:
            return
        if time.monotonic() > deadline:
            for pid in left:
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
            raise AssertionError(f"Chromium processes outlived the test: {left}")
        time.sleep(0.1)

"""The fault proxy: any stdio MCP server behind the fault layer's kinds, at the JSON-RPC message level.

``python -m fault_servers proxy [--faults FILE] [--seed N] [--run-start EPOCH]
[--events-dir DIR] [--name NAME] -- COMMAND ARGS...`` spawns COMMAND with
pipes and relays newline-delimited JSON-RPC between its own stdin/stdout (the
client) and the child's; the child's stderr is the proxy's. Lines are relayed
as bytes and never re-serialised; with no faults nothing is parsed at all.
With a fault file, each client request is parsed and decided by the same
`FaultInjector` as a fault server, with the same seeded draws (the transport
decision first, then for ``tools/call`` the call decision on ``params.name``):

- ``latency``: the request is forwarded after the delay (other messages are not held);
- ``error``, ``jsonrpc_error``, ``malformed: wrong_shape``: the proxy answers
  (an ``isError`` result, a JSON-RPC error, a result that is no tool result);
  the server never sees the call;
- ``hang``: the request is never forwarded nor answered;
- ``crash``: the child is killed and the proxy exits with ``exit_code``
  (``trigger: window_start``: when the window opens, or at start while it is open);
- ``oversized``: a text block of ``size_bytes`` is appended to the server's result;
- ``flapping`` (down phase): JSON-RPC error -32001 with ``data.retry_after_s``;
- ``malformed: not_json``: the answer line is replaced by a line that is not JSON;
- ``drop_mid_response``: half the answer line, then the child is killed and the proxy exits 1;
- ``slow_start``: the client's messages are not read until ``delay_s`` after the proxy started;
- ``http_status``: refused when the file is loaded (exit 2).

Notifications, responses and server-to-client messages are never faulted.
The proxy cannot know the wrapped server's tools, so a fault's ``tools`` are
taken as given (a misspelt name never fires).

Lifecycle: end of stdin closes the child's stdin, waits up to
`CHILD_EXIT_WAIT_S` for it to exit (then SIGTERM, `TERMINATE_WAIT_S`,
SIGKILL) and exits 0; SIGTERM or SIGINT stops the child that way at once and
exits 0; when the child exits on its own, the proxy relays what it wrote and
exits with its code (128 + N when signal N killed it). Exit 2: bad usage or
fault file, or COMMAND cannot be started. The message-level decisions (pure)
are in `proxy_messages`; the HTTP mode is in `proxy_http`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Final, NoReturn

import anyio
from anyio.abc import ByteSendStream, Process, TaskGroup

from fault_servers.errors import FaultConfigError, FaultServerError
from fault_servers.events import open_event_log
from fault_servers.fault_file import load_fault_file
from fault_servers.faults import Exit, exit_process
from fault_servers.model import FaultInjector, FaultPlan
from fault_servers.proxy_messages import (
    FORWARD,
    Handling,
    LineBuffer,
    RequestId,
    classify,
    exit_status,
    finish_answer,
    handle_request,
    iter_lines,
    response_id,
)
from fault_servers.runtime import FaultRuntime
from fault_servers.stdio_layer import DROP_EXIT_CODE

CHUNK_BYTES: Final = 65536
CHILD_EXIT_WAIT_S: Final = 3.0
"""After the client's end of input, how long the child may take to exit before it is terminated."""
TERMINATE_WAIT_S: Final = 2.0
"""Between SIGTERM and SIGKILL when stopping the child."""
DRAIN_WAIT_S: Final = 1.0
"""After the child exited, how long its last output may take to reach the client."""
KILL_REAP_WAIT_S: Final = 1.0
DEFAULT_TARGET: Final = "proxy"

# ---------------------------------------------------------------- processes and descriptors


def _ready(fd: int, *, write: bool) -> bool:
    readable, writable, _ = select.select([] if write else [fd], [fd] if write else [], [], 0)
    return bool(writable if write else readable)


class FdReader:
    """Reads a file descriptor (pipe, socket, tty or file) chunk by chunk without blocking the event loop."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    async def read(self) -> bytes:
        """The next chunk; b"" at end of input (or when the descriptor cannot be read)."""
        try:
            if not _ready(self.fd, write=False):
                await anyio.wait_readable(self.fd)
            return os.read(self.fd, CHUNK_BYTES)
        except OSError:
            return b""


class FdWriter:
    """Writes whole byte strings to a file descriptor, in order, waiting (without blocking the
    event loop) while a pipe is full. Once the reader is gone, writes are dropped.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.broken = False
        self._lock = anyio.Lock(fast_acquire=True)  # no yield when free: this is the hot path

    async def write(self, data: bytes) -> None:
        """Write all of `data` (in pieces of at most PIPE_BUF, which a writable pipe always takes whole)."""
        async with self._lock:
            view = memoryview(data)
            while view and not self.broken:
                try:
                    if not _ready(self.fd, write=True):
                        await anyio.wait_writable(self.fd)
                    view = view[os.write(self.fd, view[: select.PIPE_BUF]) :]
                except OSError:
                    self.broken = True


class Child:
    """The wrapped server process, once started; a fault's exit kills (and reaps) it first."""

    def __init__(self) -> None:
        self.process: Process | None = None

    def kill_now(self) -> None:
        """SIGKILL the child if it runs and wait (briefly, blocking) until it is reaped."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        deadline = time.monotonic() + KILL_REAP_WAIT_S
        while time.monotonic() < deadline:
            try:
                if os.waitpid(process.pid, os.WNOHANG)[0]:
                    return
            except ChildProcessError:  # already reaped by the event loop's child watcher
                return
            time.sleep(0.005)

    def kill_then_exit(self, exit_code: int) -> NoReturn:
        """The runtime's exit: no child may outlive a crashing proxy."""
        self.kill_now()
        exit_process(exit_code)


async def terminate(process: Process, wait_s: float = TERMINATE_WAIT_S) -> int:
    """SIGTERM `process`, SIGKILL it after `wait_s`, and return its return code."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        with anyio.move_on_after(wait_s):
            await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
    return await process.wait()


class StdioProxy:
    """Relays one client (`client_in`, `client_out`) to the child running `command`, with `runtime`'s faults."""

    def __init__(
        self,
        command: list[str],
        runtime: FaultRuntime,
        child: Child,
        *,
        client_in: FdReader,
        client_out: FdWriter,
        child_exit_wait_s: float = CHILD_EXIT_WAIT_S,
        handle_signals: bool = True,
    ) -> None:
        self.command = command
        self.runtime = runtime
        self.child = child
        self.client_in = client_in
        self.client_out = client_out
        self.child_exit_wait_s = child_exit_wait_s
        self.handle_signals = handle_signals
        plan = runtime.injector.plan
        self._faulty = bool(plan.faults or plan.timeline)
        self._pending: dict[RequestId, Handling] = {}
        self._delayed: dict[RequestId, anyio.CancelScope] = {}
        self._exit_code: int | None = None
        self._drained = anyio.Event()
        self._to_child_lock = anyio.Lock(fast_acquire=True)
        self._stdin: ByteSendStream | None = None

    async def run(self) -> int:
        """Serve until the client or the child is done, or a stop signal; returns the exit code.

        Raises FaultServerError when `command` cannot be started.
        """
        self.runtime.start()  # a crash window open now ends the proxy before the child starts
        signals = (signal.SIGTERM, signal.SIGINT) if self.handle_signals else ()
        try:
            with anyio.open_signal_receiver(*signals) as received:
                try:
                    process = await anyio.open_process(
                        self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=None
                    )
                except OSError as exc:
                    raise FaultServerError(f"cannot start {self.command[0]!r}: {exc.strerror}") from exc
                self.child.process = process
                self._stdin = process.stdin
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self.runtime.run_ticker)
                    tg.start_soon(self._stop_on_signal, received, process, tg)
                    tg.start_soon(self._client_to_server, process, tg)
                    await self._server_to_client(process)
                    code = await self._reap(process)
                    if self._exit_code is None:
                        self._exit_code = code
                    tg.cancel_scope.cancel()
        finally:
            self.runtime.stop()
            self.child.kill_now()
        return 0 if self._exit_code is None else self._exit_code

    async def _stop_on_signal(
        self, received: AsyncIterator[signal.Signals], process: Process, tg: TaskGroup
    ) -> None:
        async for _ in received:
            self._exit_code = 0
            await terminate(process)
            tg.cancel_scope.cancel()
            return

    async def _reap(self, process: Process) -> int:
        # The child closed its stdout: normally it has exited or is about to.
        with anyio.move_on_after(self.child_exit_wait_s):
            return exit_status(await process.wait())
        return exit_status(await terminate(process))

    async def _client_to_server(self, process: Process, tg: TaskGroup) -> None:
        await self.runtime.wait_ready()
        lines = LineBuffer()
        while chunk := await self.client_in.read():
            if complete := lines.feed(chunk):
                if self._faulty:
                    await self._relay_requests(complete, tg)
                else:
                    await self._to_child(complete)
        if rest := lines.rest():
            await self._to_child(rest)
        await self._client_closed(process, tg)

    async def _client_closed(self, process: Process, tg: TaskGroup) -> None:
        for scope in self._delayed.values():
            scope.cancel()
        if process.stdin is not None:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await process.stdin.aclose()
        if self._exit_code is None:
            self._exit_code = 0
        with anyio.move_on_after(self.child_exit_wait_s):
            await process.wait()
        await terminate(process)
        with anyio.move_on_after(DRAIN_WAIT_S):  # a grandchild may hold the child's stdout open
            await self._drained.wait()
        tg.cancel_scope.cancel()

    async def _relay_requests(self, complete: bytes, tg: TaskGroup) -> None:
        batch: list[bytes] = []
        for line in iter_lines(complete):
            inbound = classify(line)
            if inbound.cancels is not None:
                self._cancel_delayed(inbound.cancels)
            request_id = inbound.request_id
            handling = (
                FORWARD if request_id is None else handle_request(request_id, inbound, self.runtime.injector)
            )
            if request_id is None or handling.is_noop:
                batch.append(line)
                continue
            if batch:
                await self._to_child(b"".join(batch))
                batch = []
            if handling.delay_s > 0:
                tg.start_soon(self._delayed_request, line, request_id, handling)
            else:
                await self._carry_out(line, request_id, handling)
        if batch:
            await self._to_child(b"".join(batch))

    def _cancel_delayed(self, request_id: RequestId) -> None:
        scope = self._delayed.pop(request_id, None)
        if scope is not None:
            scope.cancel()

    async def _delayed_request(self, line: bytes, request_id: RequestId, handling: Handling) -> None:
        scope = anyio.CancelScope()
        self._delayed[request_id] = scope
        with scope:
            await self.runtime.sleep(handling.delay_s)
        if self._delayed.get(request_id) is scope:
            del self._delayed[request_id]
        if not scope.cancel_called:
            await self._carry_out(line, request_id, handling)

    async def _carry_out(self, line: bytes, request_id: RequestId, handling: Handling) -> None:
        if handling.crash_exit_code is not None:
            self.runtime.crash(handling.crash_exit_code)
        if handling.hang:
            return
        if handling.answer is not None:
            data, drop = finish_answer(handling.answer, handling.transport)
            await self.client_out.write(data)
            if drop:
                self.runtime.crash(DROP_EXIT_CODE)
            return
        if not handling.transport.is_noop or handling.oversized_bytes:
            self._pending[request_id] = handling
        await self._to_child(line)

    async def _to_child(self, data: bytes) -> None:
        if self._stdin is None:
            return
        async with self._to_child_lock:
            with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
                await self._stdin.send(data)

    async def _server_to_client(self, process: Process) -> None:
        assert process.stdout is not None  # opened with stdout=PIPE
        lines = LineBuffer()
        try:
            while True:
                try:
                    chunk = await process.stdout.receive(CHUNK_BYTES)
                except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    break
                if complete := lines.feed(chunk):
                    if self._pending:
                        await self._relay_responses(complete)
                    else:
                        await self.client_out.write(complete)
            if rest := lines.rest():
                await self.client_out.write(rest)
        finally:
            self._drained.set()

    async def _relay_responses(self, complete: bytes) -> None:
        out: list[bytes] = []
        for line in iter_lines(complete):
            request_id = response_id(line)
            handling = self._pending.pop(request_id, None) if request_id is not None else None
            if handling is None:
                out.append(line)
                continue
            data, drop = finish_answer(line.rstrip(b"\r\n"), handling.transport, handling.oversized_bytes)
            out.append(data)
            if drop:
                await self.client_out.write(b"".join(out))
                self.runtime.crash(DROP_EXIT_CODE)
        await self.client_out.write(b"".join(out))


# ---------------------------------------------------------------- command line


class AnyToolNames(frozenset[str]):
    """Every tool name: a proxy cannot know the wrapped server's tools, so a plan's are taken as given."""

    def __contains__(self, item: object) -> bool:
        return True


def build_proxy_runtime(
    plan: FaultPlan,
    *,
    seed: int,
    transport: str,
    target: str,
    run_start_s: float | None,
    events_dir: str | None,
    exit: Exit = exit_process,
) -> FaultRuntime:
    """The fault runtime of a proxy process, from now (the process start).

    Raises FaultConfigError when `transport` cannot carry out a kind of `plan`,
    FaultServerError when the events directory cannot be created.
    """
    plan.check_transport(transport)
    return FaultRuntime(
        FaultInjector.seeded(plan, seed, run_start_s=run_start_s),
        target=target,
        tool_names=AnyToolNames(),
        transport=transport,
        events=open_event_log(events_dir, target),
        exit=exit,
    )


def add_proxy_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``proxy`` command to the fault servers' command line."""
    from fault_servers.cli import _epoch, _port  # here, not at the top: cli imports this module

    proxy = commands.add_parser(
        "proxy",
        help="wrap any stdio MCP server (or front an HTTP one) with fault injection",
        usage="%(prog)s [options] -- COMMAND [ARGS...]\n       %(prog)s [options] --http-upstream URL --port N",
        description=(
            "Run COMMAND (a stdio MCP server) as a child and relay its JSON-RPC messages, injecting the "
            "faults of --faults as a fault server would. Exits when stdin closes (0), on SIGTERM (0), or "
            "with the child's exit code when it exits. With --http-upstream, serve a reverse proxy at "
            "/mcp in front of a streamable-HTTP MCP server instead."
        ),
    )
    proxy.add_argument("--faults", metavar="FILE", help="fault file (YAML, or JSON if it ends in .json)")
    proxy.add_argument("--seed", type=int, default=0, help="seed for the fault draws (default: 0)")
    proxy.add_argument(
        "--run-start", type=_epoch, metavar="EPOCH", help="Unix time the timeline's offsets count from"
    )
    proxy.add_argument(
        "--events-dir", metavar="DIR", help="write applied fault windows to DIR/faults.<name>-<pid>.jsonl"
    )
    proxy.add_argument(
        "--name", default=DEFAULT_TARGET, help=f"the 'target' in fault events (default: {DEFAULT_TARGET})"
    )
    proxy.add_argument(
        "--http-upstream",
        metavar="URL",
        help="HTTP mode: the upstream MCP endpoint, e.g. http://127.0.0.1:9001/mcp",
    )
    proxy.add_argument("--host", default="127.0.0.1", help="HTTP mode: address to bind (default: 127.0.0.1)")
    proxy.add_argument("--port", type=_port, help="HTTP mode: port to bind (required with --http-upstream)")
    proxy.add_argument(
        "--allow-remote",
        action="store_true",
        help="HTTP mode: allow a non-loopback bind address or upstream (the proxy has no authentication)",
    )
    proxy.add_argument(
        "server_command",
        metavar="COMMAND",
        nargs=argparse.REMAINDER,
        help="stdio mode: the server to run, after --",
    )


def run_proxy(args: argparse.Namespace) -> int:
    """Run the ``proxy`` command parsed into `args`; returns the exit code."""
    given: list[str] = args.server_command
    command = given[1:] if given[:1] == ["--"] else given
    http = args.http_upstream is not None
    if http and command:
        return _complain("give either COMMAND (stdio mode) or --http-upstream (HTTP mode), not both")
    if not http and not command:
        return _complain("expected the stdio server to wrap after --, e.g. -- python server.py")
    if not http and args.port is not None:
        return _complain("--port applies only to the HTTP mode (--http-upstream)")
    try:
        plan = FaultPlan(source="(no fault file)")
        if args.faults is not None:
            plan = load_fault_file(args.faults)
        if http:
            from fault_servers.proxy_http import run_http_proxy

            return run_http_proxy(args, plan)
        child = Child()
        runtime = build_proxy_runtime(
            plan,
            seed=args.seed,
            transport="stdio",
            target=args.name,
            run_start_s=args.run_start,
            events_dir=args.events_dir,
            exit=child.kill_then_exit,
        )
        proxy = StdioProxy(command, runtime, child, client_in=FdReader(0), client_out=FdWriter(1))
        return anyio.run(proxy.run)
    except FaultConfigError as exc:
        return _complain(f"bad fault file: {exc}")
    except FaultServerError as exc:
        return _complain(str(exc))


def _complain(message: str) -> int:
    print(f"python -m fault_servers proxy: error: {message}", file=sys.stderr)
    return 2

"""Command line for the fault servers: ``python -m fault_servers serve NAME ...`` and the fault
proxy, ``python -m fault_servers proxy ... -- COMMAND ...`` (see `fault_servers.proxy`).

Exit codes: 0 the server stopped normally (stdin closed in stdio mode, or
SIGTERM/SIGINT); 2 bad input (usage, unknown server, bad fault file, a
non-loopback host without ``--allow-remote``). Nothing but MCP messages is
written to stdout, because in stdio mode stdout is the protocol channel.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import functools
import ipaddress
import logging
import math
import os
import signal
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import Final, NoReturn, Protocol

from mcp.server.fastmcp import FastMCP

from fault_servers.database import build_database_server
from fault_servers.errors import FaultConfigError, FaultServerError
from fault_servers.fault_file import load_fault_file
from fault_servers.faults import FaultInjector
from fault_servers.filesystem import build_filesystem_server
from fault_servers.model import FaultPlan
from fault_servers.proxy import add_proxy_parser, run_proxy
from fault_servers.serve import build_runtime
from fault_servers.serve import run as run_server
from fault_servers.weather import build_weather_server

DEFAULT_HTTP_PORT: Final = 8000


class ServerBuilder(Protocol):
    """Builds one kind of MCP server; the signature every registry entry shares."""

    def __call__(
        self,
        seed: int,
        injector: FaultInjector | None,
        host: str = ...,
        port: int = ...,
        json_response: bool = ...,
    ) -> FastMCP: ...


# New servers (filesystem, database, ...) register here.
SERVER_BUILDERS: Final[Mapping[str, ServerBuilder]] = {
    "weather": build_weather_server,
    "filesystem": build_filesystem_server,
    "database": build_database_server,
}


def _builder(args: argparse.Namespace) -> ServerBuilder:
    """The chosen server's builder with its own options (--root, --db) bound.

    Raises FaultServerError when an option is given to a server that does not take it.
    """
    for option, attribute, server in (("--root", "root", "filesystem"), ("--db", "db", "database")):
        if getattr(args, attribute) is not None and args.server != server:
            raise FaultServerError(f"{option} applies only to the {server} server, not {args.server!r}")
    if args.root is not None:
        return functools.partial(build_filesystem_server, root=Path(args.root))
    if args.db is not None:
        return functools.partial(build_database_server, db_path=Path(args.db))
    return SERVER_BUILDERS[args.server]


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and any address in 127.0.0.0/8 or ``::1``; other names are not trusted."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 1 to 65535, got {port}")
    return port


def _epoch(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected Unix seconds, e.g. 1700000000.5, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected Unix seconds >= 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; separate so tests and docs can inspect it."""
    parser = argparse.ArgumentParser(
        prog="python -m fault_servers",
        description=(
            "Reference MCP servers with injectable faults (latency, errors, hangs, crashes, flapping, "
            "bad payloads, 429/503, ...) for chaosbench."
        ),
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run one MCP server until stopped",
        description=(
            "Run one MCP server. Over stdio it serves on stdin/stdout and exits when stdin closes; "
            "over http it serves MCP at /mcp and readiness at GET /healthz, and exits 0 on SIGTERM."
        ),
    )
    serve.add_argument("server", choices=sorted(SERVER_BUILDERS), help="which server to run")
    serve.add_argument(
        "--transport", choices=("stdio", "http"), default="stdio", help="MCP transport (default: stdio)"
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="http: address to bind (default: 127.0.0.1); non-loopback needs --allow-remote",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_HTTP_PORT,
        help=f"http: port to bind (default: {DEFAULT_HTTP_PORT})",
    )
    serve.add_argument(
        "--seed", type=int, default=0, help="seed for the fake data and the fault draws (default: 0)"
    )
    serve.add_argument(
        "--faults",
        metavar="FILE",
        help="fault file (YAML, or JSON if it ends in .json) with a 'faults' and/or a 'timeline' list; "
        "default: no faults",
    )
    serve.add_argument(
        "--run-start",
        type=_epoch,
        metavar="EPOCH",
        help="Unix time (seconds) the fault timeline's offsets count from; give every process of a run "
        "the same value (default: this process's start)",
    )
    serve.add_argument(
        "--events-dir",
        metavar="DIR",
        help="write one JSON line per applied fault window to DIR/faults.<name>-<pid>.jsonl",
    )
    serve.add_argument(
        "--name",
        help="the server's name in fault events (the 'target' column; default: the server kind)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="http: allow binding a non-loopback address (the server has no authentication)",
    )
    serve.add_argument(
        "--root",
        metavar="DIR",
        help="filesystem: the directory the tools are confined to "
        "(default: a temporary directory seeded from --seed, removed on exit)",
    )
    serve.add_argument(
        "--db",
        metavar="FILE",
        help="database: the SQLite file to serve, created and seeded from --seed when it has no tables "
        "(default: a temporary database, removed on exit)",
    )
    add_proxy_parser(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: ``sys.argv[1:]``), run the chosen server and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return exc.code if isinstance(exc.code, int) else 2
    if args.command == "proxy":
        return run_proxy(args)
    if args.transport == "http" and not args.allow_remote and not is_loopback_host(args.host):
        _complain(
            f"refusing to serve on non-loopback host {args.host!r}: the server has no authentication; "
            "use 127.0.0.1, localhost or ::1, or pass --allow-remote"
        )
        return 2
    try:
        plan = FaultPlan(source="(no fault file)")
        if args.faults is not None:
            plan = load_fault_file(args.faults)
            plan.check_transport(args.transport)
        # The fault layer wraps the whole server (call_layer, http_layer,
        # stdio_layer), so the server's own per-tool injection stays off.
        server = _builder(args)(args.seed, None, host=args.host, port=args.port)
        runtime = build_runtime(
            server,
            plan,
            seed=args.seed,
            transport=args.transport,
            target=args.name or args.server,
            run_start_s=args.run_start,
            events_dir=args.events_dir,
        )
    except FaultConfigError as exc:
        _complain(f"bad fault file: {exc}")
        return 2
    except FaultServerError as exc:
        _complain(str(exc))
        return 2
    if args.transport == "stdio":
        # Open fault windows are written by the exit hooks that _exit_now runs.
        atexit.register(runtime.stop)
    _exit_cleanly_on_stop_signals(exit_at_once=args.transport == "stdio")
    _drop_sdk_noise_on_session_close()
    try:
        run_server(server, runtime, transport=args.transport, host=args.host, port=args.port)
    except _StopRequested:
        if args.transport == "stdio":
            _exit_now()
    return 0


class _StopRequested(BaseException):
    """Raised by the SIGTERM/SIGINT handler; a BaseException so no `except Exception` swallows it."""


def _exit_cleanly_on_stop_signals(*, exit_at_once: bool = False) -> None:
    # uvicorn installs its own handlers while serving, shuts down gracefully on
    # SIGTERM and then re-raises the signal against the handler it found. With
    # the default handler the process would then die "killed by SIGTERM"
    # (exit -15); this handler turns that, and any signal arriving outside
    # uvicorn's window (startup, stdio mode), into a normal return.
    if threading.current_thread() is not threading.main_thread():
        return

    # Over stdio there is nothing to shut down gracefully, and an exception raised here can
    # land inside an asyncio callback, whose runner logs and swallows it (the server would
    # keep running): exit at once instead, running the exit hooks.
    def stop(signum: int, frame: FrameType | None) -> None:
        if exit_at_once:
            _exit_now()
        raise _StopRequested(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


class _SessionCloseNoise(logging.Filter):
    """Drops the traceback mcp 1.30 logs at ERROR each time a client ends a streamable-HTTP session.

    On DELETE the server closes the session's standalone GET stream under its
    writer, which then logs "Error in standalone SSE writer" with an anyio
    ClosedResourceError: nothing is wrong, but every gateway session close
    would put a traceback in the server's log.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (
            record.msg == "Error in standalone SSE writer"
            and exc is not None
            and type(exc).__name__ == "ClosedResourceError"
        )


def _drop_sdk_noise_on_session_close() -> None:
    logging.getLogger("mcp.server.streamable_http").addFilter(_SessionCloseNoise())


def _exit_now() -> NoReturn:
    # The MCP stdio transport reads stdin in a non-daemon worker thread that
    # stays blocked in read() until stdin closes, so a normal exit after a stop
    # signal would hang in interpreter shutdown. Exit handlers still run: they
    # remove the temporary root or database a server made for itself.
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def _complain(message: str) -> None:
    print(f"python -m fault_servers: error: {message}", file=sys.stderr)

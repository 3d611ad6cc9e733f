"""Command line for the fault servers: ``python -m fault_servers serve NAME ...``.

Exit codes: 0 the server stopped normally (stdin closed in stdio mode, or
SIGTERM/SIGINT); 2 bad input (usage, unknown server, bad fault file, a
non-loopback host without ``--allow-remote``). Nothing but MCP messages is
written to stdout, because in stdio mode stdout is the protocol channel.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import random
import signal
import sys
import threading
from collections.abc import Mapping
from types import FrameType
from typing import Final, NoReturn, Protocol

from mcp.server.fastmcp import FastMCP

from fault_servers.errors import FaultConfigError
from fault_servers.fault_file import load_fault_file
from fault_servers.faults import FaultInjector
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
SERVER_BUILDERS: Final[Mapping[str, ServerBuilder]] = {"weather": build_weather_server}


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


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; separate so tests and docs can inspect it."""
    parser = argparse.ArgumentParser(
        prog="python -m fault_servers",
        description="Reference MCP servers with injectable faults (latency, errors) for chaosbench.",
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
        help="fault file (YAML, or JSON if it ends in .json) with a 'faults' list; default: no faults",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="http: allow binding a non-loopback address (the server has no authentication)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse `argv` (default: ``sys.argv[1:]``), run the chosen server and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        return exc.code if isinstance(exc.code, int) else 2
    if args.transport == "http" and not args.allow_remote and not is_loopback_host(args.host):
        _complain(
            f"refusing to serve on non-loopback host {args.host!r}: the server has no authentication; "
            "use 127.0.0.1, localhost or ::1, or pass --allow-remote"
        )
        return 2
    try:
        injector = None
        if args.faults is not None:
            injector = FaultInjector(load_fault_file(args.faults), random.Random(args.seed))
        server = SERVER_BUILDERS[args.server](args.seed, injector, host=args.host, port=args.port)
    except FaultConfigError as exc:
        _complain(f"bad fault file: {exc}")
        return 2
    _exit_cleanly_on_stop_signals()
    _drop_sdk_noise_on_session_close()
    try:
        server.run(transport="stdio" if args.transport == "stdio" else "streamable-http")
    except _StopRequested:
        if args.transport == "stdio":
            _exit_now()
    return 0


class _StopRequested(BaseException):
    """Raised by the SIGTERM/SIGINT handler; a BaseException so no `except Exception` swallows it."""


def _exit_cleanly_on_stop_signals() -> None:
    # uvicorn installs its own handlers while serving, shuts down gracefully on
    # SIGTERM and then re-raises the signal against the handler it found. With
    # the default handler the process would then die "killed by SIGTERM"
    # (exit -15); this handler turns that, and any signal arriving outside
    # uvicorn's window (startup, stdio mode), into a normal return.
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: FrameType | None) -> None:
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
    # signal would hang in interpreter shutdown. Nothing is left to clean up
    # but the standard streams.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(0)


def _complain(message: str) -> None:
    print(f"python -m fault_servers: error: {message}", file=sys.stderr)

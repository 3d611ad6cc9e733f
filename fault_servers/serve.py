"""Running a FastMCP server behind the fault layer, over stdio or streamable HTTP.

`build_runtime` checks a plan against the server (tool names, transport) and
sets up the live fault state; `run` installs the call layer, serves until
the transport ends (stdin closes, or uvicorn shuts down on SIGTERM), and on
the way out, by any path, writes the fault windows still open.
"""

from __future__ import annotations

import logging
import os
from typing import Final

import anyio
import uvicorn
from mcp.server.fastmcp import FastMCP

from fault_servers.call_layer import install_call_faults
from fault_servers.control import ControlApp
from fault_servers.events import open_event_log
from fault_servers.http_layer import DroppedResponseNoise, FaultMiddleware
from fault_servers.model import FaultInjector, FaultPlan
from fault_servers.runtime import FaultRuntime
from fault_servers.stdio_layer import fault_stdio_server

GRACEFUL_SHUTDOWN_S: Final = 1
"""How long uvicorn waits for in-flight requests on SIGTERM; a hung call would otherwise hold it forever."""


def build_runtime(
    server: FastMCP,
    plan: FaultPlan,
    *,
    seed: int,
    transport: str,
    target: str,
    run_start_s: float | None = None,
    events_dir: str | os.PathLike[str] | None = None,
) -> FaultRuntime:
    """The fault runtime for `server`, from now (the process start).

    Raises FaultConfigError when `plan` names a tool `server` does not have,
    or uses a kind `transport` cannot carry out; FaultServerError when the
    events directory cannot be created.
    """
    tool_names = frozenset(tool.name for tool in anyio.run(server.list_tools))
    plan.check_tool_names(tool_names)
    plan.check_transport(transport)
    return FaultRuntime(
        FaultInjector.seeded(plan, seed, run_start_s=run_start_s),
        target=target,
        tool_names=tool_names,
        transport=transport,
        events=open_event_log(events_dir, target),
    )


def run(
    server: FastMCP, runtime: FaultRuntime, *, transport: str, host: str = "127.0.0.1", port: int = 0
) -> None:
    """Serve `server` over `transport` ("stdio" or "http") with `runtime`'s faults until it stops.

    Whatever ends the serving (EOF, SIGTERM turned into an exception, an
    error), the open fault windows are written before this returns or raises.
    """
    install_call_faults(server, runtime)
    try:
        if transport == "stdio":
            anyio.run(_serve_stdio, server, runtime)
        else:
            anyio.run(_serve_http, server, runtime, host, port)
    except BaseExceptionGroup as group:
        # The ticker's task group wraps whatever ends the serving (the CLI's
        # stop-signal exception included); callers expect it as it was raised.
        raise _sole_exception(group) from None
    finally:
        runtime.stop()


def _sole_exception(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested single-member groups, or `group` itself when there are several."""
    inner: BaseException = group
    while isinstance(inner, BaseExceptionGroup) and len(inner.exceptions) == 1:
        inner = inner.exceptions[0]
    return inner


async def _serve_stdio(server: FastMCP, runtime: FaultRuntime) -> None:
    runtime.start()
    lowlevel = server._mcp_server
    async with anyio.create_task_group() as tg:
        tg.start_soon(runtime.run_ticker)
        async with fault_stdio_server(runtime) as (read_stream, write_stream):
            await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
        tg.cancel_scope.cancel()


async def _serve_http(server: FastMCP, runtime: FaultRuntime, host: str, port: int) -> None:
    runtime.start()
    app = FaultMiddleware(
        server.streamable_http_app(),
        runtime,
        control=ControlApp(runtime),
        mcp_path=server.settings.streamable_http_path,
    )
    logging.getLogger("uvicorn.error").addFilter(DroppedResponseNoise())
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(runtime.run_ticker)
        await uvicorn.Server(config).serve()
        tg.cancel_scope.cancel()

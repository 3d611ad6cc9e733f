"""The fault API a server's tools use: decide a call's faults, then carry them out.

A tool that injects its own faults does::

    await apply_decision(injector.decide("get_forecast"), sleep=sleep)

`FaultInjector` and the fault model live in `fault_servers.model` (pure,
standard library only) and are re-exported here. `apply_decision` carries
out what can happen before a tool runs: the delay, a crash, a hang, a
JSON-RPC error or an ``isError`` error. A wrong-shape result and an oversized
result need the tool's answer, so only the server-wide fault layer
(`fault_servers.call_layer`, installed by ``python -m fault_servers serve``)
carries those out. Raised inside a FastMCP tool, the McpError of a JSON-RPC
error also becomes an ``isError`` result (FastMCP wraps every exception a
tool raises); the server-wide layer raises it outside the tool instead.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn

import anyio
from mcp.server.fastmcp.exceptions import ToolError
from mcp.shared.exceptions import McpError
from mcp.types import ErrorData

from fault_servers.model import (
    DEFAULT_ERROR_MESSAGE,
    NO_FAULT,
    ErrorFault,
    Fault,
    FaultDecision,
    FaultInjector,
    FaultPlan,
    JsonRpcError,
    LatencyFault,
    targets,
)

__all__ = [
    "DEFAULT_ERROR_MESSAGE",
    "NO_FAULT",
    "ErrorFault",
    "Exit",
    "Fault",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "Hang",
    "InjectedFaultError",
    "JsonRpcError",
    "LatencyFault",
    "Sleep",
    "apply_decision",
    "exit_process",
    "targets",
]

Sleep = Callable[[float], Awaitable[object]]
Hang = Callable[[], Awaitable[object]]
Exit = Callable[[int], object]


class InjectedFaultError(ToolError):
    """A tool call failed on purpose; FastMCP reports it as ``isError=True``."""


def exit_process(exit_code: int) -> NoReturn:
    """End the process now with `exit_code`, as a crash would, after flushing the standard streams.

    Exit handlers still run (they remove a server's temporary files); nothing
    else does: no finally blocks, no graceful shutdown, no answer to callers.
    """
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(exit_code)


async def apply_decision(
    decision: FaultDecision,
    *,
    sleep: Sleep = asyncio.sleep,
    hang: Hang = anyio.sleep_forever,
    exit: Exit = exit_process,
) -> None:
    """Carry out the part of `decision` that comes before the tool runs.

    In order: await ``sleep(delay_s)``; ``exit(crash_exit_code)``; await
    ``hang()`` (by default it never returns); raise McpError for a JSON-RPC
    error; raise InjectedFaultError (a FastMCP ToolError, so the client sees
    an ``isError=True`` result with the message) for an error.
    """
    if decision.delay_s > 0.0:
        await sleep(decision.delay_s)
    if decision.crash_exit_code is not None:
        exit(decision.crash_exit_code)
    if decision.hang:
        await hang()
    if decision.jsonrpc_error is not None:
        raise McpError(ErrorData(code=decision.jsonrpc_error.code, message=decision.jsonrpc_error.message))
    if decision.error is not None:
        raise InjectedFaultError(decision.error)

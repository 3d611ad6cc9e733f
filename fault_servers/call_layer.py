"""The call layer: faults carried out around every ``tools/call`` of a FastMCP server.

`install_call_faults` wraps the low-level server's CallTool request handler,
outside FastMCP's own tool wrapper, so that, unlike an exception raised
inside a tool, a JSON-RPC error really reaches the client as one. For each
call it asks the runtime's injector for a decision about the tool and then,
in this order: sleeps the delay; crashes the process; hangs (never answers);
answers a JSON-RPC error; answers ``isError=true`` with the message; answers
a result of the wrong shape; or runs the tool and pads its result.

A hanging call over HTTP also sets the `CallMarks` the HTTP layer put in the
request's scope, so that nothing is sent for it ever, not even the 500 the
SDK answers a pending request with when its session is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mcp import types
from mcp.server.fastmcp import FastMCP
from mcp.server.lowlevel import Server

from fault_servers.faults import InjectedFaultError, apply_decision
from fault_servers.runtime import FaultRuntime

WRONG_SHAPE_RESULT: Final = {"content": "injected fault: malformed (wrong_shape)", "isError": "no"}
"""A JSON-RPC result that is not a CallToolResult: ``content`` must be a list, ``isError`` a boolean."""

PADDING_UNIT: Final = "injected fault: oversized. "
CALL_MARKS_KEY: Final = "fault_servers.call_marks"


@dataclass
class CallMarks:
    """What the call layer decided about the HTTP request it is serving, for the HTTP layer to see."""

    hang: bool = False


def padding(size_bytes: int) -> str:
    """`size_bytes` characters of filler (ASCII, so also `size_bytes` bytes of UTF-8)."""
    repeats = size_bytes // len(PADDING_UNIT) + 1
    return (PADDING_UNIT * repeats)[:size_bytes]


def install_call_faults(server: FastMCP, runtime: FaultRuntime) -> None:
    """Wrap `server`'s tools/call handler with the runtime's call-layer faults."""
    lowlevel = server._mcp_server
    inner = lowlevel.request_handlers[types.CallToolRequest]

    async def call_tool_with_faults(request: types.CallToolRequest) -> types.ServerResult:
        decision = runtime.injector.decide(request.params.name)
        if decision.hang:
            _mark_hang(lowlevel)
        try:
            await apply_decision(decision, sleep=runtime.sleep, exit=runtime.crash)
        except InjectedFaultError as exc:
            text = types.TextContent(type="text", text=str(exc))
            return types.ServerResult(types.CallToolResult(content=[text], isError=True))
        if decision.wrong_shape:
            return types.ServerResult(types.EmptyResult.model_validate(WRONG_SHAPE_RESULT))
        result = await inner(request)
        if decision.oversized_bytes and isinstance(result.root, types.CallToolResult):
            result.root.content.append(types.TextContent(type="text", text=padding(decision.oversized_bytes)))
        return result

    lowlevel.request_handlers[types.CallToolRequest] = call_tool_with_faults


def _mark_hang(lowlevel: Server[object, object]) -> None:
    try:
        http_request = lowlevel.request_context.request
    except LookupError:
        return
    scope = getattr(http_request, "scope", None)
    marks = scope.get(CALL_MARKS_KEY) if isinstance(scope, dict) else None
    if isinstance(marks, CallMarks):
        marks.hang = True

"""The stdio transport layer: the MCP stdio server loop with transport-layer faults.

A stand-in for ``mcp.server.stdio.stdio_server`` (same streams, same framing:
one JSON-RPC message per line) that, for each JSON-RPC request read from
stdin, asks the runtime's injector for a transport decision:

- a refusal (a ``flapping`` down phase) is answered at once with a JSON-RPC
  error, code `SERVER_UNAVAILABLE_CODE`, ``data: {"retry_after_s": N}``; the
  request never reaches the server;
- ``malformed`` with ``mode: not_json``: the response line is replaced by a
  line that is not JSON;
- ``drop_mid_response``: half the response line is written, without its
  newline, then the process exits with `DROP_EXIT_CODE`.

During a slow start nothing is read from stdin until the server is ready, so
the client's initialize waits in the pipe. ``http_status`` cannot be
expressed over stdio; plans using it are refused before the server starts.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from io import TextIOWrapper
from typing import Final

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp import types
from mcp.shared.message import SessionMessage

from fault_servers.model import Refusal, TransportDecision
from fault_servers.runtime import FaultRuntime

SERVER_UNAVAILABLE_CODE: Final = -32001
DROP_EXIT_CODE: Final = 1
NOT_JSON_LINE: Final = "<html>injected fault: malformed (not_json)</html>"


def refusal_error(request_id: types.RequestId, refusal: Refusal) -> types.JSONRPCError:
    """The JSON-RPC error a stdio server answers a refused request with."""
    message = f"injected fault: {refusal.reason}: server unavailable; retry after {refusal.retry_after_s} s"
    error = types.ErrorData(
        code=SERVER_UNAVAILABLE_CODE, message=message, data={"retry_after_s": refusal.retry_after_s}
    )
    return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=error)


def tool_of(request: types.JSONRPCRequest) -> str | None:
    """The tool a request calls, or None when it is not ``tools/call``."""
    params = request.params or {}
    name = params.get("name")
    return name if request.method == "tools/call" and isinstance(name, str) else None


@asynccontextmanager
async def fault_stdio_server(
    runtime: FaultRuntime,
    stdin: anyio.AsyncFile[str] | None = None,
    stdout: anyio.AsyncFile[str] | None = None,
) -> AsyncIterator[
    tuple[MemoryObjectReceiveStream[SessionMessage | Exception], MemoryObjectSendStream[SessionMessage]]
]:
    """Serve MCP on stdin/stdout (or the given text files) with `runtime`'s transport faults.

    Yields the (read, write) stream pair a low-level MCP server runs on.
    """
    if stdin is None:
        stdin = anyio.wrap_file(TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace"))
    if stdout is None:
        stdout = anyio.wrap_file(TextIOWrapper(sys.stdout.buffer, encoding="utf-8"))
    out = stdout
    read_writer, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, write_reader = anyio.create_memory_object_stream[SessionMessage](0)
    refusals = write_stream.clone()
    pending: dict[types.RequestId, TransportDecision] = {}

    async def stdin_reader() -> None:
        async with read_writer, refusals:
            await runtime.wait_ready()
            async for line in stdin:
                try:
                    message = types.JSONRPCMessage.model_validate_json(line)
                except ValueError as exc:  # pydantic.ValidationError; the session hears of it, as in the SDK
                    await read_writer.send(exc)
                    continue
                root = message.root
                if isinstance(root, types.JSONRPCRequest):
                    decision = runtime.injector.decide_request(tool_of(root))
                    if decision.refusal is not None:
                        error = refusal_error(root.id, decision.refusal)
                        await refusals.send(SessionMessage(types.JSONRPCMessage(error)))
                        continue
                    if not decision.is_noop:
                        pending[root.id] = decision
                await read_writer.send(SessionMessage(message))

    async def stdout_writer() -> None:
        async with write_reader:
            async for session_message in write_reader:
                root = session_message.message.root
                line = session_message.message.model_dump_json(by_alias=True, exclude_none=True)
                decision = None
                if isinstance(root, types.JSONRPCResponse | types.JSONRPCError):
                    decision = pending.pop(root.id, None)
                if decision is not None and decision.drop:
                    await out.write(line[: len(line) // 2])
                    await out.flush()
                    runtime.crash(DROP_EXIT_CODE)
                if decision is not None and decision.not_json:
                    line = NOT_JSON_LINE
                await out.write(line + "\n")
                await out.flush()

    async with anyio.create_task_group() as tg:
        tg.start_soon(stdin_reader)
        tg.start_soon(stdout_writer)
        yield read_stream, write_stream

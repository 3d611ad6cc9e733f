"""The fault proxy at the message level: reading client messages, deciding them as a fault server
would, and writing the answers. Pure: no I/O, no clock of its own (the injector has one).

A client request is decided by `handle_request`: the transport draw first
(``decide_request``), then, for a ``tools/call`` naming a tool, the call draw
(``decide``), exactly as a fault server's stdio and call layers draw, so the
same seed gives the same faults through the proxy as in a server. The
result, a `Handling`, says what the proxy does with the request and with
whatever answers it (`finish_answer`). Lines are cut by `LineBuffer` and
`iter_lines` without decoding them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from fault_servers.call_layer import WRONG_SHAPE_RESULT, padding
from fault_servers.model import NO_TRANSPORT_FAULT, FaultDecision, FaultInjector, Refusal, TransportDecision
from fault_servers.stdio_layer import NOT_JSON_LINE, refusal_error

RequestId = int | str


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the proxy needs to know of one client message.

    `request_id` and `method` are set for a request; `tool` for a ``tools/call``
    naming one; `cancels` for a ``notifications/cancelled`` naming a request.
    """

    request_id: RequestId | None = None
    method: str | None = None
    tool: str | None = None
    cancels: RequestId | None = None


NOT_A_REQUEST: Final = Inbound()


def _request_id(value: object) -> RequestId | None:
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


def classify(line: bytes) -> Inbound:
    """What `line` (one client message, newline allowed) is; `NOT_A_REQUEST` for responses and garbage."""
    try:
        message = json.loads(line)
    except ValueError:
        return NOT_A_REQUEST
    if not isinstance(message, dict) or not isinstance(method := message.get("method"), str):
        return NOT_A_REQUEST
    params = message.get("params")
    params = params if isinstance(params, dict) else {}
    request_id = _request_id(message.get("id"))
    if request_id is None:
        cancels = _request_id(params.get("requestId")) if method == "notifications/cancelled" else None
        return Inbound(method=method, cancels=cancels)
    name = params.get("name")
    return Inbound(request_id, method, name if method == "tools/call" and isinstance(name, str) else None)


def response_id(line: bytes) -> RequestId | None:
    """The id `line` answers when it is a JSON-RPC response (result or error), else None."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    if not isinstance(message, dict) or "method" in message:
        return None
    return _request_id(message.get("id"))


def _dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()


def result_line(request_id: RequestId, result: dict[str, Any]) -> bytes:
    """A JSON-RPC response carrying `result` (no newline)."""
    return _dumps({"jsonrpc": "2.0", "id": request_id, "result": result})


def error_line(request_id: RequestId, code: int, message: str) -> bytes:
    """A JSON-RPC error response (no newline)."""
    return _dumps({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}})


def refusal_line(request_id: RequestId, refusal: Refusal) -> bytes:
    """The error a fault server's stdio layer answers a refused request with (no newline)."""
    return refusal_error(request_id, refusal).model_dump_json(by_alias=True, exclude_none=True).encode()


def pad_response(line: bytes, size_bytes: int) -> bytes:
    """`line` with a text block of `size_bytes` characters appended to its result's content.

    Anything that is not a tool result (a JSON-RPC error, ...) comes back unchanged.
    """
    try:
        message = json.loads(line)
    except ValueError:
        return line
    result = message.get("result") if isinstance(message, dict) else None
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, list):
        return line
    content.append({"type": "text", "text": padding(size_bytes)})
    return _dumps(message)


@dataclass(frozen=True, slots=True)
class Handling:
    """What the proxy does with one client request, in this order: wait `delay_s`; exit with
    `crash_exit_code`; swallow it (`hang`); answer it with `answer` (one JSON-RPC message, no
    newline); or forward it. `transport` (and, on the server's answer, `oversized_bytes`) then
    apply to whatever answers it.
    """

    delay_s: float = 0.0
    crash_exit_code: int | None = None
    hang: bool = False
    answer: bytes | None = None
    transport: TransportDecision = NO_TRANSPORT_FAULT
    oversized_bytes: int = 0

    @property
    def is_noop(self) -> bool:
        """True when the request is forwarded at once and its answer relayed untouched."""
        return self == FORWARD


FORWARD: Final = Handling()


def call_answer(request_id: RequestId, call: FaultDecision) -> bytes | None:
    """The answer the proxy gives instead of the server for call decision `call`, if any
    (a JSON-RPC error, an ``isError`` result or a wrong-shape result, in that order of precedence).
    """
    if call.jsonrpc_error is not None:
        return error_line(request_id, call.jsonrpc_error.code, call.jsonrpc_error.message)
    if call.error is not None:
        return result_line(request_id, {"content": [{"type": "text", "text": call.error}], "isError": True})
    if call.wrong_shape:
        return result_line(request_id, WRONG_SHAPE_RESULT)
    return None


def handle_request(request_id: RequestId, inbound: Inbound, injector: FaultInjector) -> Handling:
    """Decide a client request as a fault server would: the transport draw, then, for a
    ``tools/call``, the call draw (a refused request never reaches the call layer).
    """
    transport = injector.decide_request(inbound.tool)
    if transport.refusal is not None:
        return Handling(answer=refusal_line(request_id, transport.refusal))
    if inbound.tool is None:
        return FORWARD if transport.is_noop else Handling(transport=transport)
    call = injector.decide(inbound.tool)
    if call.is_noop and transport.is_noop:
        return FORWARD
    answer = call_answer(request_id, call)
    oversized_bytes = 0 if answer is not None else call.oversized_bytes
    return Handling(call.delay_s, call.crash_exit_code, call.hang, answer, transport, oversized_bytes)


def finish_answer(line: bytes, transport: TransportDecision, oversized_bytes: int = 0) -> tuple[bytes, bool]:
    """The bytes to write for answer `line` (no newline), and whether the proxy must then exit (a drop)."""
    if oversized_bytes:
        line = pad_response(line, oversized_bytes)
    if transport.drop:
        return line[: len(line) // 2], True
    if transport.not_json:
        return NOT_JSON_LINE.encode() + b"\n", False
    return line + b"\n", False


def iter_lines(data: bytes) -> Iterator[bytes]:
    """The lines of `data`, each with its newline (the last one without, if `data` does not end in one)."""
    start = 0
    while (end := data.find(b"\n", start) + 1) > 0:
        yield data[start:end]
        start = end
    if start < len(data):
        yield data[start:]


class LineBuffer:
    """Cuts a byte stream at newlines: `feed` returns every complete line received so far, in one piece."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def feed(self, chunk: bytes) -> bytes:
        """The complete lines that `chunk` ends (possibly none: b""); the rest is kept."""
        end = chunk.rfind(b"\n") + 1
        if not end:
            self._parts.append(chunk)
            return b""
        head = chunk if end == len(chunk) else chunk[:end]
        if self._parts:
            head = b"".join([*self._parts, head])
            self._parts.clear()
        if end < len(chunk):
            self._parts.append(chunk[end:])
        return head

    def rest(self) -> bytes:
        """What came after the last newline (a last line without one)."""
        rest = b"".join(self._parts)
        self._parts.clear()
        return rest


def exit_status(returncode: int) -> int:
    """A child's return code as a shell reports it: 128 + N when signal N killed it."""
    return 128 - returncode if returncode < 0 else returncode

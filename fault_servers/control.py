"""The live control endpoint of an HTTP fault server (``/control/faults``), loopback clients only.

- ``GET /control/faults``: 200 with the live plan and its open windows
  (``{"target", "transport", "now", "run_start", "ready", "source", "plan",
  "active": [{"window", "kind", "params", "t_start", "t_end"}]}``; ``t_end``
  is null for a window open until the end).
- ``PUT /control/faults`` with a fault file as JSON: validates it as
  ``parse_faults`` does (source ``PUT /control/faults``), checks its tool
  names, and replaces the live plan from now on; 200 with the new state. The
  old plan's windows end now (and are written to the faults table); timeline
  offsets still count from the run start; the seeded streams carry on.
  A slow_start in a new plan has no effect (the process has started).

Errors: 403 when the client address is not loopback; 400 with
``{"error": message}`` for a body that is not JSON or not a valid fault file;
405 for other methods; 413 for a body over 1 MiB.
"""

from __future__ import annotations

import ipaddress
import json
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from fault_servers.errors import FaultConfigError
from fault_servers.fault_file import parse_faults
from fault_servers.runtime import FaultRuntime

CONTROL_PATH: Final = "/control/faults"
PUT_SOURCE: Final = "PUT /control/faults"
MAX_BODY_BYTES: Final = 1024 * 1024


def is_loopback_address(host: str | None) -> bool:
    """True for an IP address in 127.0.0.0/8 or ``::1``; anything else, names included, is not."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ControlApp:
    """ASGI app serving `CONTROL_PATH` for one runtime."""

    def __init__(self, runtime: FaultRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request)
        await response(scope, receive, send)

    async def _respond(self, request: Request) -> JSONResponse:
        client = request.client.host if request.client is not None else None
        if not is_loopback_address(client):
            return _error(403, f"the control endpoint only answers loopback clients, not {client!r}")
        if request.url.path != CONTROL_PATH:
            return _error(404, f"no such control resource; expected {CONTROL_PATH}")
        if request.method == "GET":
            return JSONResponse(self.runtime.state())
        if request.method != "PUT":
            return _error(405, "expected GET or PUT", headers={"Allow": "GET, PUT"})
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            return _error(413, f"expected a fault file of at most {MAX_BODY_BYTES} bytes")
        try:
            data: object = json.loads(body)
        except ValueError as exc:
            return _error(400, f"{PUT_SOURCE}: (body): expected a fault file as JSON; {exc}")
        try:
            self.runtime.replace_plan(parse_faults(data, PUT_SOURCE))
        except FaultConfigError as exc:
            return _error(400, str(exc))
        return JSONResponse(self.runtime.state())


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)

"""The manager's authorizer: the request's principal from the context, every decision audited, fail closed."""

from __future__ import annotations

import asyncio
from typing import Any

from harness.auth import AuditSink, Policy, PolicyAuthorizer, Principal, current_principal


class Recorder(AuditSink):
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def record(self, event: str, **fields: Any) -> bool:
        self.events.append({"event": event, **fields})
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        return None


def principal(*roles: str) -> Principal:
    return Principal("alice", roles, "s1", "acme", "hs", 0.0)


def authorizer(audit: Recorder) -> PolicyAuthorizer:
    return PolicyAuthorizer(Policy(), {"wx": "weather", "files": "filesystem"}, audit)


def test_a_granted_call_is_audited_with_the_permission_that_granted_it() -> None:
    audit = Recorder()
    token = current_principal.set(principal("user"))
    try:
        assert authorizer(audit).authorize("wx", "get_forecast", request_id="r1", session_id="s1") is None
    finally:
        current_principal.reset(token)
    assert audit.events == [
        {
            "event": "grant",
            "user": "alice",
            "session_id": "s1",
            "request_id": "r1",
            "server": "wx",
            "tool": "get_forecast",
            "permission": "weather:read",
        }
    ]


def test_a_denied_call_says_why_and_is_audited_and_counted() -> None:
    audit = Recorder()
    auth = authorizer(audit)
    token = current_principal.set(principal("guest"))
    try:
        reason = auth.authorize("files", "write_file", request_id="r2", session_id="s1")
    finally:
        current_principal.reset(token)
    assert reason is not None and "files:write" in reason and "guest" in reason
    assert audit.events[0]["event"] == "deny" and audit.events[0]["permission"] == "files:write"
    assert auth.decisions == {("deny", "files", "write_file"): 1}


def test_without_a_principal_every_call_is_denied() -> None:
    audit = Recorder()
    assert authorizer(audit).authorize("wx", "get_forecast", request_id="", session_id="") is not None
    assert audit.events[0]["event"] == "deny" and audit.events[0]["user"] == ""


def test_the_principal_reaches_tasks_the_request_starts() -> None:
    audit = Recorder()
    auth = authorizer(audit)

    async def request(roles: tuple[str, ...]) -> str | None:
        current_principal.set(principal(*roles))

        async def tool_call() -> str | None:
            await asyncio.sleep(0)
            return auth.authorize("files", "read_file", request_id="", session_id="s1")

        return await asyncio.wait_for(asyncio.create_task(tool_call()), 5)

    async def both() -> list[str | None]:
        return list(await asyncio.gather(request(("user",)), request(("guest",))))

    allowed, denied = asyncio.run(both())
    assert allowed is None and denied is not None

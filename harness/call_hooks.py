"""Seams on the manager's call path: authorization and a response cache, both optional.

:class:`~harness.manager.ResilientMCPManager` asks the :class:`ToolAuthorizer`
before anything else, so a denied call never reaches a breaker, a pool or a server
(it is one ``calls`` row with outcome ``denied``); then the :class:`ToolCache`,
whose hit is returned without a call (and without a ``calls`` row: no attempt was
made); a successful answer is offered to the cache afterwards.

The gateway's implementations are :class:`harness.auth.PolicyAuthorizer` (roles of
the request's verified token) and :class:`harness.gateway.cache.ToolResponseCache`.
"""

from __future__ import annotations

from typing import Any, Protocol

from mcp.types import CallToolResult

__all__ = ["ToolAuthorizer", "ToolCache"]


class ToolAuthorizer(Protocol):
    """Decides whether the current caller may call ``tool`` on ``server``."""

    def authorize(self, server: str, tool: str, *, request_id: str, session_id: str) -> str | None:
        """``None`` when allowed; else why not (the ``error`` of the ``denied`` row)."""
        ...


class ToolCache(Protocol):
    """Answers of idempotent tools, by server, tool and arguments."""

    async def get(self, server: str, tool: str, arguments: dict[str, Any]) -> CallToolResult | None:
        """The cached answer, or ``None`` (not cacheable, a miss, or the cache failed)."""
        ...

    async def put(self, server: str, tool: str, arguments: dict[str, Any], result: CallToolResult) -> None:
        """Offer a successful answer; the cache decides whether to keep it. Never raises."""
        ...

"""The manager's authorizer: the roles of the request's verified token, checked against the policy.

The gateway verifies the token of a request and sets :data:`current_principal` for
the rest of that request; asyncio copies the context into every task the turn
starts (the ResilientAgent's timeout, LangGraph's tool calls), so the manager sees
the principal of the request that made the call without any signature changing
on the way. No principal (a call outside any request) is denied: the authorizer
fails closed.

Every decision is an audit event (``grant`` / ``deny``) and counted in
``decisions`` for ``/metrics``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextvars import ContextVar

from harness.auth.audit import AuditSink
from harness.auth.policy import Policy
from harness.auth.tokens import Principal

__all__ = ["PolicyAuthorizer", "current_principal"]

#: The verified caller of the request being served (``None`` outside a request).
current_principal: ContextVar[Principal | None] = ContextVar("chaosbench_principal", default=None)


class PolicyAuthorizer:
    """Implements :class:`harness.call_hooks.ToolAuthorizer` with a :class:`Policy`.

    ``server_kinds`` maps each server name to its kind (the policy names tools by kind).
    """

    def __init__(self, policy: Policy, server_kinds: Mapping[str, str], audit: AuditSink) -> None:
        self.policy = policy
        self._kinds = dict(server_kinds)
        self._audit = audit
        self.decisions: Counter[tuple[str, str, str]] = Counter()  # (grant|deny, server, tool)

    def authorize(self, server: str, tool: str, *, request_id: str, session_id: str) -> str | None:
        principal = current_principal.get()
        kind = self._kinds.get(server, server)
        if principal is None:
            reason = "no authenticated caller for this call"
            self._deny(server, tool, "", session_id, request_id, "", reason)
            return reason
        decision = self.policy.decide(principal.roles, kind, tool)
        if decision.allowed:
            self.decisions[("grant", server, tool)] += 1
            self._audit.record(
                "grant",
                user=principal.user,
                session_id=principal.session_id,
                request_id=request_id,
                server=server,
                tool=tool,
                permission=decision.permission,
            )
            return None
        reason = f"roles {list(principal.roles)} may not call {server}.{tool}: {decision.reason}"
        self._deny(
            server, tool, principal.user, principal.session_id, request_id, decision.permission, reason
        )
        return reason

    def _deny(
        self, server: str, tool: str, user: str, session_id: str, request_id: str, needed: str, reason: str
    ) -> None:
        self.decisions[("deny", server, tool)] += 1
        self._audit.record(
            "deny",
            user=user,
            session_id=session_id,
            request_id=request_id,
            server=server,
            tool=tool,
            permission=needed,
            reason=reason,
        )

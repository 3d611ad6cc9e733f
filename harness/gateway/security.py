"""The gateway's protections, built from its config: who may come in, how often, and what they may call.

Per agent request (:meth:`GatewaySecurity.admit`), before the body is read:

1. authentication (when ``auth.enabled``): the Bearer JWT is verified
   (:class:`~harness.auth.TokenVerifier`); a failure is ``401`` with
   ``WWW-Authenticate: Bearer realm="chaosbench", error="invalid_token", error_description="<reason>"``
   (RFC 6750; no ``error`` when the header is missing);
2. the token's ``session_id`` must be the path's session, else ``403``;
3. rate limiting (when ``rate_limit.enabled``): one token from the user's bucket (the
   token's user; the session id when auth is off), else ``429`` with ``Retry-After``.

Then each tool call of the turn is authorized on the manager path by
:class:`~harness.auth.PolicyAuthorizer` (a denied call is a ``denied`` row and the
turn a ``403`` with ``error="insufficient_scope"``), and idempotent tools go
through the response cache (:mod:`harness.gateway.cache`) when ``cache.enabled``.
Every authentication, grant, denial and rate-limit refusal is an audit event.

``GET /v1/audit?user=U[&event=E][&limit=N]`` returns a user's audit events to a
caller holding ``admin:*`` (404 when auth is off).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from harness.auth import (
    ADMIN_PERMISSION,
    AuditLog,
    AuditSink,
    AuthenticationError,
    NullAuditLog,
    PolicyAuthorizer,
    Principal,
    RateLimiter,
    TokenVerifier,
    query_audit,
    retry_after_header,
    verifier_from,
)
from harness.envconfig import GatewayEnvironment
from harness.errors import ConfigError
from harness.gateway.cache import CacheBackend, MemoryCache, ToolResponseCache
from harness.gateway.cache_redis import RedisCache
from harness.gateway.config import GatewayConfig

__all__ = ["Admitted", "GatewaySecurity", "audit_path"]

log = logging.getLogger(__name__)
REALM = 'Bearer realm="chaosbench"'
MAX_AUDIT_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Admitted:
    """A request let in: its verified caller (``None`` when auth is off)."""

    principal: Principal | None


def audit_path(config: GatewayConfig) -> Path:
    """Where the audit log goes: ``auth.audit.path``, else ``<events_dir>/../audit/audit.jsonl``."""
    if config.auth.audit.path is not None:
        return config.auth.audit.path
    if config.events_dir is not None:
        return config.events_dir.parent / "audit" / "audit.jsonl"
    raise ConfigError("auth.audit.path: required when auth is enabled and the gateway has no events_dir")


class GatewaySecurity:
    """Authentication, rate limiting, authorization and the cache, as configured (all optional).

    Raises :class:`ConfigError` when auth is enabled without a usable key or audit path.
    """

    def __init__(
        self,
        config: GatewayConfig,
        env: GatewayEnvironment,
        *,
        errlog: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        kinds = {name: s.kind for name, s in config.servers.items()}
        self.verifier: TokenVerifier | None = None
        self.authorizer: PolicyAuthorizer | None = None
        self.audit: AuditSink = NullAuditLog()
        self.audit_file: Path | None = None
        if config.auth.enabled:
            self.verifier = verifier_from(config.auth, env, clock=clock)
            a = config.auth.audit
            self.audit_file = audit_path(config)
            self.audit = AuditLog(
                self.audit_file,
                max_bytes=a.max_bytes,
                backup_count=a.backup_count,
                queue_size=a.queue_size,
                clock=clock,
                errlog=errlog,
            )
            self.authorizer = PolicyAuthorizer(config.auth.policy(), kinds, self.audit)
        r = config.rate_limit
        self.limiter = (
            RateLimiter(r.rate_per_s, r.burst, max_users=r.max_users, clock=monotonic) if r.enabled else None
        )
        self.cache: ToolResponseCache | None = None
        if config.cache.enabled:
            c = config.cache
            url = env.redis_url or c.redis_url
            backend: CacheBackend = (
                RedisCache(url, timeout_s=c.redis_timeout_s, allow_non_loopback=c.allow_non_loopback)
                if url
                else MemoryCache(c.max_entries, clock=monotonic)
            )
            self.cache = ToolResponseCache(backend, kinds, c.tools, ttl_s=c.ttl_s, key_prefix=c.key_prefix)
        self.authenticated = 0
        self.failures: Counter[str] = Counter()  # 401 reasons
        self.forbidden: Counter[str] = Counter()  # request-level 403 reasons
        self.rate_limited = 0

    # -- per request ---------------------------------------------------------------------------

    def admit(self, request: Request, session_id: str, request_id: str) -> Admitted | Response:
        """Let the request in, or the 401/403/429 response that refuses it (audited)."""
        principal: Principal | None = None
        if self.verifier is not None:
            header = request.headers.get("authorization")
            try:
                principal = self.verifier.verify_header(header)
            except AuthenticationError as exc:
                return self._unauthenticated(request, header, exc, request_id)
            self.authenticated += 1
            self.audit.record(
                "authn_success",
                user=principal.user,
                roles=principal.roles,  # a tuple: JSON writes it as a list
                session_id=principal.session_id,
                org_id=principal.org_id,
                kid=principal.key_id,
                request_id=request_id,
                path=request.scope.get("path", ""),
            )
            if principal.session_id != session_id:
                reason = f"the token is for session {principal.session_id!r}, not {session_id!r}"
                return self._forbidden("session_mismatch", reason, principal, request_id)
        if self.limiter is not None:
            key = principal.user if principal is not None else f"session:{session_id}"
            decision = self.limiter.check(key)
            if not decision.allowed:
                self.rate_limited += 1
                self.audit.record(
                    "rate_limited",
                    user=key,
                    session_id=session_id,
                    request_id=request_id,
                    retry_after_s=round(decision.retry_after_s, 3),
                )
                return JSONResponse(
                    {
                        "error": "rate limited",
                        "detail": f"at most {self.limiter.burst} requests at once and "
                        f"{self.limiter.rate_per_s:g}/s per user",
                        "retry_after_s": decision.retry_after_s,
                        "request_id": request_id,
                    },
                    status_code=429,
                    headers={"retry-after": retry_after_header(decision.retry_after_s)},
                )
        return Admitted(principal)

    def forbidden_headers(self) -> dict[str, str]:
        """Headers of a 403 for a denied tool call (RFC 6750 ``insufficient_scope``)."""
        return {"www-authenticate": f'{REALM}, error="insufficient_scope"'} if self.verifier else {}

    async def audit_endpoint(self, request: Request) -> Response:
        """``GET /v1/audit?user=U[&event=E][&limit=N]``, for callers holding ``admin:*``."""
        request_id = request.headers.get("x-request-id") or ""
        if self.verifier is None or self.audit_file is None or self.authorizer is None:
            return _json(404, "no audit log", "auth is not enabled on this gateway", request_id)
        header = request.headers.get("authorization")
        try:
            principal = self.verifier.verify_header(header)
        except AuthenticationError as exc:
            return self._unauthenticated(request, header, exc, request_id)
        self.authenticated += 1
        if ADMIN_PERMISSION not in self.authorizer.policy.permissions_of(principal.roles):
            return self._forbidden("not_admin", "reading the audit log needs admin:*", principal, request_id)
        params = request.query_params
        try:
            limit = int(params.get("limit", "1000"))
            if not 1 <= limit <= MAX_AUDIT_LIMIT:
                raise ValueError
        except ValueError:
            return _json(
                400, "bad limit", f"limit must be a whole number in 1..{MAX_AUDIT_LIMIT}", request_id
            )
        user, event = params.get("user"), params.get("event")
        self.audit.record("audit_read", user=principal.user, request_id=request_id, query_user=user or "")
        await asyncio.to_thread(self.audit.flush, 1.0)
        rows = await asyncio.to_thread(query_audit, self.audit_file, user=user, event=event, limit=limit)
        return JSONResponse({"user": user, "event": event, "count": len(rows), "events": rows})

    # -- health and shutdown ---------------------------------------------------------------------

    async def checks(self) -> dict[str, str]:
        """Component checks for ``/health``: ``"ok"`` or what is wrong."""
        result: dict[str, str] = {}
        if isinstance(self.audit, AuditLog):
            result["audit"] = "ok" if self.audit.dropped == 0 else f"{self.audit.dropped} events dropped"
        if self.cache is not None and isinstance(self.cache.backend, RedisCache):
            up = await self.cache.backend.ping()
            result["cache"] = "ok" if up else f"redis unreachable: {self.cache.backend.last_error}"
        return result

    def describe(self) -> dict[str, Any]:
        """The protections in force, for ``/health``."""
        return {
            "auth": self.verifier is not None,
            "rate_limit": self.limiter is not None,
            "cache": None if self.cache is None else self.cache.backend.name,
            "audit_file": None if self.audit_file is None else str(self.audit_file),
        }

    async def aclose(self) -> None:
        if self.cache is not None:
            await self.cache.backend.aclose()
        await asyncio.to_thread(self.audit.close, 5.0)

    # -- refusals ----------------------------------------------------------------------------

    def _unauthenticated(
        self, request: Request, header: str | None, exc: AuthenticationError, request_id: str
    ) -> Response:
        self.failures[exc.reason] += 1
        self.audit.record(
            "authn_failure",
            reason=exc.reason,
            detail=exc.detail[:300],
            claimed_user=_claimed_user(header, exc.reason),
            request_id=request_id,
            path=request.scope.get("path", ""),
            client=request.client.host if request.client else "",
        )
        log.info("authentication failed", extra={"reason": exc.reason, "detail": exc.detail[:300]})
        if exc.reason == "missing_token":
            challenge = REALM
        else:
            code = "invalid_request" if exc.reason == "malformed_header" else "invalid_token"
            challenge = f'{REALM}, error="{code}", error_description="{exc.reason}"'
        return JSONResponse(
            {
                "error": "unauthenticated",
                "reason": exc.reason,
                "detail": exc.detail,
                "request_id": request_id,
            },
            status_code=401,
            headers={"www-authenticate": challenge},
        )

    def _forbidden(self, reason: str, detail: str, principal: Principal, request_id: str) -> Response:
        self.forbidden[reason] += 1
        self.audit.record(
            "deny",
            user=principal.user,
            session_id=principal.session_id,
            request_id=request_id,
            server="",
            tool="",
            permission="",
            reason=f"{reason}: {detail}",
        )
        return JSONResponse(
            {"error": "forbidden", "reason": reason, "detail": detail, "request_id": request_id},
            status_code=403,
            headers=self.forbidden_headers(),
        )


def _claimed_user(header: str | None, reason: str) -> str:
    """The ``sub``/``user_id`` a refused token claims (unverified; for the audit trail only)."""
    if header is None or reason in ("missing_token", "token_too_large", "malformed_header"):
        return ""
    try:
        claims = jwt.decode(header.partition(" ")[2].strip(), options={"verify_signature": False})
    except jwt.PyJWTError:
        return ""
    user = claims.get("sub") or claims.get("user_id")
    return user[:256] if isinstance(user, str) else ""


def _json(status: int, error: str, detail: str, request_id: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail, "request_id": request_id}, status_code=status)

"""Authentication and authorization of the gateway: JWTs, roles → permissions → tools, audit, rate limits.

See docs/security.md. The pieces, each in its own module:

- :mod:`~harness.auth.keys`: keys pinned to one algorithm (HS256, RS256), from files or the environment;
- :mod:`~harness.auth.tokens`: :class:`TokenVerifier` (Bearer JWT → :class:`Principal`, or a 401 reason);
- :mod:`~harness.auth.minter`: :class:`TokenMinter` (tokens for simulated sessions);
- :mod:`~harness.auth.policy`: :class:`Policy` (the seeds' roles and permissions as data);
- :mod:`~harness.auth.authorizer`: :class:`PolicyAuthorizer` (the manager's authorizer);
- :mod:`~harness.auth.audit`: :class:`AuditLog` (JSON lines, rotating, never blocking) and :func:`query_audit`;
- :mod:`~harness.auth.ratelimit`: :class:`RateLimiter` (per-user token buckets);
- :mod:`~harness.auth.settings`: the ``auth`` / ``rate_limit`` / ``cache`` settings.

Names are loaded on first use (PEP 562), so importing :mod:`harness.auth.settings`
(as the scenario schema does) loads neither PyJWT nor cryptography.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from harness.auth.audit import AuditLog, AuditSink, NullAuditLog, query_audit
    from harness.auth.authorizer import PolicyAuthorizer, current_principal
    from harness.auth.keys import (
        JwtKey,
        KeySet,
        generate_hs256_secret,
        generate_rsa_private_pem,
        load_key,
        public_pem,
    )
    from harness.auth.loading import keyset_from, minter_from, run_key_environment, verifier_from
    from harness.auth.minter import TokenMinter
    from harness.auth.policy import (
        ADMIN_PERMISSION,
        DEFAULT_PERMISSIONS,
        DEFAULT_ROLES,
        Decision,
        Policy,
        PolicyError,
    )
    from harness.auth.ratelimit import RateDecision, RateLimiter, TokenBucket, retry_after_header
    from harness.auth.session_tokens import EXPECTED_REASONS, SessionTokens, session_tokens_from
    from harness.auth.settings import (
        TOKEN_KINDS,
        AuditSettings,
        AuthSettings,
        CacheSettings,
        KeySettings,
        RateLimitSettings,
    )
    from harness.auth.tokens import FAILURE_REASONS, AuthenticationError, Principal, TokenVerifier

_MODULES = {
    "ADMIN_PERMISSION": "harness.auth.policy",
    "AuditLog": "harness.auth.audit",
    "AuditSettings": "harness.auth.settings",
    "AuditSink": "harness.auth.audit",
    "AuthSettings": "harness.auth.settings",
    "AuthenticationError": "harness.auth.tokens",
    "CacheSettings": "harness.auth.settings",
    "DEFAULT_PERMISSIONS": "harness.auth.policy",
    "DEFAULT_ROLES": "harness.auth.policy",
    "EXPECTED_REASONS": "harness.auth.session_tokens",
    "Decision": "harness.auth.policy",
    "FAILURE_REASONS": "harness.auth.tokens",
    "JwtKey": "harness.auth.keys",
    "KeySet": "harness.auth.keys",
    "KeySettings": "harness.auth.settings",
    "NullAuditLog": "harness.auth.audit",
    "Policy": "harness.auth.policy",
    "PolicyAuthorizer": "harness.auth.authorizer",
    "PolicyError": "harness.auth.policy",
    "Principal": "harness.auth.tokens",
    "RateDecision": "harness.auth.ratelimit",
    "RateLimitSettings": "harness.auth.settings",
    "RateLimiter": "harness.auth.ratelimit",
    "SessionTokens": "harness.auth.session_tokens",
    "TOKEN_KINDS": "harness.auth.settings",
    "TokenBucket": "harness.auth.ratelimit",
    "TokenMinter": "harness.auth.minter",
    "TokenVerifier": "harness.auth.tokens",
    "current_principal": "harness.auth.authorizer",
    "generate_hs256_secret": "harness.auth.keys",
    "generate_rsa_private_pem": "harness.auth.keys",
    "keyset_from": "harness.auth.loading",
    "load_key": "harness.auth.keys",
    "minter_from": "harness.auth.loading",
    "public_pem": "harness.auth.keys",
    "query_audit": "harness.auth.audit",
    "retry_after_header": "harness.auth.ratelimit",
    "run_key_environment": "harness.auth.loading",
    "session_tokens_from": "harness.auth.session_tokens",
    "verifier_from": "harness.auth.loading",
}

__all__ = [
    "ADMIN_PERMISSION",
    "DEFAULT_PERMISSIONS",
    "DEFAULT_ROLES",
    "EXPECTED_REASONS",
    "FAILURE_REASONS",
    "TOKEN_KINDS",
    "AuditLog",
    "AuditSettings",
    "AuditSink",
    "AuthSettings",
    "AuthenticationError",
    "CacheSettings",
    "Decision",
    "JwtKey",
    "KeySet",
    "KeySettings",
    "NullAuditLog",
    "Policy",
    "PolicyAuthorizer",
    "PolicyError",
    "Principal",
    "RateDecision",
    "RateLimitSettings",
    "RateLimiter",
    "SessionTokens",
    "TokenBucket",
    "TokenMinter",
    "TokenVerifier",
    "current_principal",
    "generate_hs256_secret",
    "generate_rsa_private_pem",
    "keyset_from",
    "load_key",
    "minter_from",
    "public_pem",
    "query_audit",
    "retry_after_header",
    "run_key_environment",
    "session_tokens_from",
    "verifier_from",
]


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.auth' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

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
"""

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
from harness.auth.settings import AuditSettings, AuthSettings, CacheSettings, KeySettings, RateLimitSettings
from harness.auth.tokens import FAILURE_REASONS, AuthenticationError, Principal, TokenVerifier

__all__ = [
    "ADMIN_PERMISSION",
    "DEFAULT_PERMISSIONS",
    "DEFAULT_ROLES",
    "FAILURE_REASONS",
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
    "verifier_from",
]

"""Settings of the gateway's protections: authentication, audit, rate limiting, response cache.

The same models are a scenario's ``system.auth`` / ``system.rate_limit`` /
``system.cache`` and the gateway config's ``auth`` / ``rate_limit`` / ``cache``.
Every one is off by default. Secrets are never settings: a key is named by a
file path (``auth.keys``) or comes from the environment (see
:mod:`harness.auth.keys`); ``REDIS_URL`` (environment) wins over ``cache.redis_url``.

```yaml
auth:
  enabled: true
  issuer: chaosbench
  audience: chaosbench-gateway
  leeway_s: 0                 # clock skew allowed on exp / nbf / iat
  max_token_bytes: 8192
  keys: [{kid: run, algorithm: HS256, file: runtime/jwt-secret}]   # plus the environment's
  roles: {analyst: [weather:read, database:query]}                 # default: the seeds' map
  permissions: {...}                                               # default: the seeds' map
  audit: {path: audit/audit.jsonl, max_bytes: 10485760, backup_count: 5, queue_size: 10000}
rate_limit: {enabled: true, rate_per_s: 5, burst: 10}
cache: {enabled: true, ttl_s: 30, max_entries: 10000, tools: [weather.get_forecast]}
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.auth.policy import DEFAULT_PERMISSIONS, DEFAULT_ROLES, Policy, PolicyError

__all__ = [
    "DEFAULT_CACHEABLE_TOOLS",
    "TOKEN_KINDS",
    "AuditSettings",
    "AuthSettings",
    "CacheSettings",
    "KeySettings",
    "RateLimitSettings",
    "TokenKind",
]

#: Tools whose answers are cached by default: deterministic reads (the weather server's data is a
#: pure function of the seed and the city). Reads of files or tables can change; add them knowingly.
DEFAULT_CACHEABLE_TOOLS = ("weather.get_current_weather", "weather.get_forecast")


#: What a simulated session presents (``load.sessions[].token``): a valid token, or a forgery of one
#: kind (harness/auth/session_tokens.py). An under-privileged session is a valid token whose role
#: lacks the tools it calls.
TokenKind = Literal[
    "valid",
    "none",
    "expired",
    "not_yet_valid",
    "wrong_issuer",
    "wrong_audience",
    "wrong_key",
    "alg_none",
    "tampered",
    "missing_claims",
]
TOKEN_KINDS: tuple[str, ...] = TokenKind.__args__  # type: ignore[attr-defined]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeySettings(_Model):
    """A key file: HS256 a shared secret (>= 32 bytes), RS256 a PEM public (or private) key."""

    kid: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    algorithm: Literal["HS256", "RS256"]
    file: Path


class AuditSettings(_Model):
    """Where audit lines go and how much is kept (rotation by size; a bounded queue in memory)."""

    path: Path | None = None  # default: <events_dir>/../audit/audit.jsonl
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    backup_count: int = Field(default=5, ge=0, le=1000)
    queue_size: int = Field(default=10_000, ge=1, le=10_000_000)


class AuthSettings(_Model):
    """JWT authentication and role-based authorization of tool calls."""

    enabled: bool = False
    issuer: str = Field(default="chaosbench", min_length=1)
    audience: str = Field(default="chaosbench-gateway", min_length=1)
    leeway_s: float = Field(default=0.0, ge=0, le=600)
    max_token_bytes: int = Field(default=8192, ge=256, le=65536)
    verify_cache_size: int = Field(default=4096, ge=0, le=1_000_000)  # verified tokens remembered; 0: none
    token_ttl_s: float = Field(default=3600.0, gt=0)  # lifetime of the tokens the harness mints
    # The key `chaosbench run` makes for a run when none is configured (HS256 secret or RS256 pair).
    run_key_algorithm: Literal["HS256", "RS256"] = "HS256"
    keys: list[KeySettings] = Field(default_factory=list)
    roles: dict[str, list[str]] | None = None  # role -> permissions; None: the default roles
    permissions: dict[str, list[str]] | None = None  # permission -> "<kind>.<tool>"; None: the default
    audit: AuditSettings = Field(default_factory=AuditSettings)

    @model_validator(mode="after")
    def _policy_is_valid(self) -> AuthSettings:
        try:
            self.policy()
        except PolicyError as exc:
            raise ValueError(str(exc)) from None
        return self

    def policy(self) -> Policy:
        """The authorization map (the seeds' map for whatever is not given)."""
        return Policy(
            self.roles if self.roles is not None else DEFAULT_ROLES,
            self.permissions if self.permissions is not None else DEFAULT_PERMISSIONS,
        )


class RateLimitSettings(_Model):
    """Per-user token buckets: ``burst`` requests at once, refilled at ``rate_per_s``."""

    enabled: bool = False
    rate_per_s: float = Field(default=10.0, gt=0)
    burst: int = Field(default=20, ge=1)
    max_users: int = Field(default=100_000, ge=1)  # buckets kept; the least recently used go first


class CacheSettings(_Model):
    """A response cache for idempotent tools: in memory (TTL + LRU), or Redis when a URL is given."""

    enabled: bool = False
    ttl_s: float = Field(default=30.0, gt=0)
    max_entries: int = Field(default=10_000, ge=1)
    tools: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CACHEABLE_TOOLS),
        description="'<server kind>.<tool>' or '<kind>.*'",
    )
    redis_url: str | None = Field(default=None, pattern=r"^(redis|rediss|unix)://\S+$")
    redis_timeout_s: float = Field(default=0.25, gt=0)
    allow_non_loopback: bool = False  # a Redis host other than 127.0.0.1/localhost needs this
    key_prefix: str = "chaosbench:cache:"

    @model_validator(mode="after")
    def _tools_are_names(self) -> CacheSettings:
        for tool in self.tools:
            kind, dot, name = tool.partition(".")
            if not dot or not kind or not name:
                raise ValueError(f"cache.tools: {tool!r} is not '<server kind>.<tool>' or '<kind>.*'")
        return self

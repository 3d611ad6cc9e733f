"""Minting tokens for simulated sessions (tests, the load generator, ``python -m harness.auth mint``).

A session's token carries ``sub`` (the user), ``roles``, ``session_id``,
``org_id``, ``iss``, ``aud``, ``iat``, ``nbf``, ``exp`` and a unique ``jti``, and
names its key in the header's ``kid``. The load generator mints one token per
session from the session type's role (``harness.scenario.SessionType.role``):
:meth:`TokenMinter.for_session`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jwt

from harness.auth.keys import JwtKey

__all__ = ["DEFAULT_ORG", "TokenMinter"]

DEFAULT_ORG = "chaosbench"


class TokenMinter:
    """Signs tokens with ``key`` (which must hold a signing key). Raises ``ValueError`` otherwise."""

    def __init__(
        self,
        key: JwtKey,
        *,
        issuer: str = "chaosbench",
        audience: str = "chaosbench-gateway",
        ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if key.signing_key is None:
            raise ValueError(f"key {key.kid!r} ({key.algorithm}) is public only; it cannot sign tokens")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s
        self._clock = clock

    def mint(
        self,
        *,
        user: str,
        roles: Sequence[str],
        session_id: str,
        org_id: str = DEFAULT_ORG,
        ttl_s: float | None = None,
        not_before_s: float = 0.0,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed token; ``not_before_s`` delays ``nbf`` from now; ``extra`` adds (or overrides) claims."""
        return self.sign(
            self.claims(
                user=user,
                roles=roles,
                session_id=session_id,
                org_id=org_id,
                ttl_s=ttl_s,
                not_before_s=not_before_s,
                extra=extra,
            )
        )

    def claims(
        self,
        *,
        user: str,
        roles: Sequence[str],
        session_id: str,
        org_id: str = DEFAULT_ORG,
        ttl_s: float | None = None,
        not_before_s: float = 0.0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The claims :meth:`mint` signs (see there)."""
        now = self._clock()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": user,
            "roles": list(roles),
            "session_id": session_id,
            "org_id": org_id,
            "iat": int(now),
            "nbf": int(now + not_before_s),
            "exp": int(now + (self.ttl_s if ttl_s is None else ttl_s)),
            "jti": uuid.uuid4().hex,
        }
        claims.update(extra or {})
        return claims

    def sign(self, claims: Mapping[str, Any]) -> str:
        """``claims`` signed with this minter's key (``kid`` in the header), whatever they say."""
        assert self.key.signing_key is not None
        return jwt.encode(
            dict(claims), self.key.signing_key, algorithm=self.key.algorithm, headers={"kid": self.key.kid}
        )

    @property
    def now(self) -> float:
        """The minter's clock."""
        return self._clock()

    def for_session(self, role: str, session_id: str, *, org_id: str = DEFAULT_ORG) -> str:
        """The token of one simulated session acting as ``role`` (user ``<role>:<session_id>``)."""
        return self.mint(user=f"{role}:{session_id}", roles=[role], session_id=session_id, org_id=org_id)

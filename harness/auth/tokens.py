"""Verifying Bearer JWTs into a :class:`Principal`, or failing with one reason from a fixed set.

The reasons (the first check that fails gives the reason; every one is a 401):

| reason | when |
|---|---|
| ``missing_token`` | no ``Authorization`` header |
| ``malformed_header`` | not ``Bearer <token>`` |
| ``token_too_large`` | the header is longer than ``max_token_bytes`` (checked before any parsing) |
| ``malformed_token`` | not three base64url JSON segments |
| ``algorithm_not_allowed`` | ``alg`` is not the algorithm of a trusted key (``none`` never is), or is not the pinned algorithm of the key ``kid`` names |
| ``unknown_key`` | ``kid`` names no trusted key, or no ``kid`` and several keys share the ``alg`` |
| ``bad_signature`` | the signature does not verify with that key |
| ``missing_claim`` | ``iss``, ``aud``, ``exp``, ``sub``/``user_id``, ``roles``, ``session_id`` or ``org_id`` absent |
| ``wrong_issuer`` / ``wrong_audience`` | ``iss`` / ``aud`` not the configured ones |
| ``invalid_claim`` | a claim of the wrong type (``exp`` not a number, ``roles`` not a list of strings, ...) |
| ``expired`` | ``now >= exp + leeway_s`` |
| ``not_yet_valid`` | ``now < nbf - leeway_s`` or ``now < iat - leeway_s`` |

The key is chosen from the trusted set before PyJWT runs, and PyJWT is told the
one algorithm pinned to that key, so a token cannot choose how it is verified.
Times are checked here against an injected ``clock`` (PyJWT's own time checks
are off), so tests need no sleeps.

A session presents the same token on every turn, so a token that verified is
remembered (by its SHA-256, at most ``cache_size`` tokens, least recently used
first out): the same bytes again skip the parsing and the signature check, never
the time checks, which run on every request. Failures are never remembered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from harness.auth.keys import JwtKey, KeySet
from harness.errors import ChaosbenchError

__all__ = ["FAILURE_REASONS", "AuthenticationError", "Principal", "TokenVerifier"]

FAILURE_REASONS = (
    "missing_token",
    "malformed_header",
    "token_too_large",
    "malformed_token",
    "algorithm_not_allowed",
    "unknown_key",
    "bad_signature",
    "missing_claim",
    "wrong_issuer",
    "wrong_audience",
    "invalid_claim",
    "expired",
    "not_yet_valid",
)
MAX_ROLES = 32
MAX_CLAIM_CHARS = 256
MAX_HEADER_CHARS = 1024
_B64URL = re.compile(r"[A-Za-z0-9_-]*")


class AuthenticationError(ChaosbenchError):
    """Who-are-you failed: ``reason`` is one of :data:`FAILURE_REASONS`, ``detail`` says what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a verified token says the caller is."""

    user: str
    roles: tuple[str, ...]
    session_id: str
    org_id: str
    key_id: str
    expires_at: float
    token_id: str = ""


class TokenVerifier:
    """Verifies tokens against a :class:`KeySet`, an issuer and an audience (see the module docstring)."""

    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        leeway_s: float = 0.0,
        max_token_bytes: int = 8192,
        cache_size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if len(keys) == 0:
            raise ValueError("a TokenVerifier needs at least one key")
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        self._keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s
        self.max_token_bytes = max_token_bytes
        self.cache_size = cache_size
        self._clock = clock
        self._verified: OrderedDict[bytes, tuple[Principal, dict[str, Any]]] = OrderedDict()

    def verify_header(self, authorization: str | None) -> Principal:
        """Verify an ``Authorization`` header value. Raises :class:`AuthenticationError`."""
        if authorization is None or authorization == "":
            raise AuthenticationError("missing_token", "no Authorization header; expected 'Bearer <JWT>'")
        if len(authorization) > self.max_token_bytes + len("Bearer "):
            raise AuthenticationError(
                "token_too_large",
                f"Authorization header is {len(authorization)} characters; at most {self.max_token_bytes} for the token",
            )
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("malformed_header", "expected 'Authorization: Bearer <JWT>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        """Verify a compact JWT. Raises :class:`AuthenticationError`."""
        size = len(token.encode("utf-8", "surrogatepass"))
        if size > self.max_token_bytes:
            raise AuthenticationError(
                "token_too_large", f"token is {size} bytes; at most {self.max_token_bytes}"
            )
        digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
        remembered = self._verified.get(digest)
        if remembered is not None:
            self._verified.move_to_end(digest)
            principal, times = remembered
            self._check_times(times)
            return principal
        key = self._key_for(token)
        claims = self._decode(token, key)
        self._check_times(claims)
        principal = _principal(claims, key)
        if self.cache_size:
            self._verified[digest] = (principal, {k: claims.get(k) for k in ("exp", "nbf", "iat")})
            if len(self._verified) > self.cache_size:
                self._verified.popitem(last=False)
        return principal

    def _key_for(self, token: str) -> JwtKey:
        header = _header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._keys.algorithms:
            raise AuthenticationError(
                "algorithm_not_allowed",
                f"alg {alg!r} is not allowed; expected one of {sorted(self._keys.algorithms)}",
            )
        kid = header.get("kid")
        if kid is not None:
            if not isinstance(kid, str) or (key := self._keys.by_kid(kid)) is None:
                raise AuthenticationError("unknown_key", f"kid {kid!r} names no trusted key")
            if key.algorithm != alg:
                raise AuthenticationError(
                    "algorithm_not_allowed", f"key {kid!r} is pinned to {key.algorithm}; the token says {alg}"
                )
            return key
        matching = self._keys.with_algorithm(alg)
        if len(matching) != 1:
            raise AuthenticationError(
                "unknown_key", f"the token has no kid and {len(matching)} trusted keys use {alg}"
            )
        return matching[0]

    def _decode(self, token: str, key: JwtKey) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.verify_key,
                algorithms=[key.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["iss", "aud", "exp"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise AuthenticationError("bad_signature", "the signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError("missing_claim", f"claim {exc.claim!r} is required") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("wrong_issuer", f"iss must be {self.issuer!r}") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("wrong_audience", f"aud must include {self.audience!r}") from None
        except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
            raise AuthenticationError("algorithm_not_allowed", str(exc)) from None
        except jwt.DecodeError as exc:
            raise AuthenticationError("malformed_token", str(exc)) from None
        except jwt.InvalidTokenError as exc:
            raise AuthenticationError("invalid_claim", f"{type(exc).__name__}: {exc}") from None
        return claims

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self._clock()
        exp = _number(claims, "exp")
        assert exp is not None  # required by _decode
        if now >= exp + self.leeway_s:
            raise AuthenticationError("expired", f"the token expired {now - exp:.0f}s ago")
        for name in ("nbf", "iat"):
            if claims.get(name) is None:
                continue
            value = _number(claims, name)
            assert value is not None
            if now < value - self.leeway_s:
                raise AuthenticationError(
                    "not_yet_valid", f"{name} is {value - now:.0f}s in the future (leeway {self.leeway_s:g}s)"
                )


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read strictly (PyJWT reads it again, with the signature, once the key is chosen)."""
    segment, dot, _ = token.partition(".")
    if not dot or len(segment) > MAX_HEADER_CHARS or not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise AuthenticationError("malformed_token", "the header is not a base64url segment")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise AuthenticationError("malformed_token", f"cannot read the token header: {exc}") from None
    if not isinstance(header, dict):
        raise AuthenticationError("malformed_token", "the header is not a JSON object")
    return header


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    # type() rather than isinstance: bool is an int subclass, and this runs on every request.
    if type(value) not in (int, float) or value != value:
        raise AuthenticationError("invalid_claim", f"{name} must be a NumericDate (seconds), got {value!r}")
    return float(value)


def _text(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    if value is None:
        raise AuthenticationError("missing_claim", f"claim {name!r} is required")
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_CHARS:
        raise AuthenticationError(
            "invalid_claim", f"{name} must be a non-empty string of at most {MAX_CLAIM_CHARS} characters"
        )
    return value


def _principal(claims: dict[str, Any], key: JwtKey) -> Principal:
    user_claim = "sub" if claims.get("sub") is not None else "user_id"
    if claims.get(user_claim) is None:
        raise AuthenticationError("missing_claim", "claim 'sub' or 'user_id' is required")
    user = _text(claims, user_claim)
    roles = claims.get("roles")
    if roles is None:
        raise AuthenticationError("missing_claim", "claim 'roles' is required")
    if (
        not isinstance(roles, list)
        or len(roles) > MAX_ROLES
        or not all(isinstance(r, str) and 0 < len(r) <= MAX_CLAIM_CHARS for r in roles)
    ):
        raise AuthenticationError("invalid_claim", f"roles must be a list of at most {MAX_ROLES} role names")
    jti = claims.get("jti")
    return Principal(
        user=user,
        roles=tuple(roles),
        session_id=_text(claims, "session_id"),
        org_id=_text(claims, "org_id"),
        key_id=key.kid,
        expires_at=float(claims["exp"]),
        token_id=jti if isinstance(jti, str) else "",
    )

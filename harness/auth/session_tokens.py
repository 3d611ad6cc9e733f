"""The token a simulated session presents: valid for its role, or one kind of forgery.

A scenario's session type names its ``role`` and its ``token`` (``load.sessions[].token``,
:data:`harness.auth.settings.TokenKind`). Each Locust process builds one
:class:`SessionTokens` (:func:`session_tokens_from`) and asks it once per session:

| ``token`` | what the session sends | the gateway answers |
|---|---|---|
| ``valid`` | a token for the role, signed with the run's key | the turn (403 when the role lacks a tool it calls) |
| ``none`` | no ``Authorization`` header | 401 ``missing_token`` |
| ``expired`` | ``exp`` a minute ago | 401 ``expired`` |
| ``not_yet_valid`` | ``nbf`` ten minutes from now | 401 ``not_yet_valid`` |
| ``wrong_issuer`` / ``wrong_audience`` | ``iss`` / ``aud`` not the gateway's | 401 ``wrong_issuer`` / ``wrong_audience`` |
| ``wrong_key`` | signed with another key under the run key's ``kid`` | 401 ``bad_signature`` |
| ``alg_none`` | ``alg: none`` and no signature | 401 ``algorithm_not_allowed`` |
| ``tampered`` | a valid token whose payload was rewritten to ``roles: [admin]`` | 401 ``bad_signature`` |
| ``missing_claims`` | validly signed, without ``roles`` and ``session_id`` | 401 ``missing_claim`` |

An under-privileged session is a ``valid`` token whose role lacks the tools it calls:
its turns are 403 and its calls are ``denied`` rows that never reach a server.
Every forged token's claims name the session (``sub`` = ``<role>:<session_id>``), so
the audit log's ``claimed_user`` says who the forger pretended to be.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.auth.keys import JwtKey, generate_hs256_secret, generate_rsa_private_pem, load_key
from harness.auth.loading import minter_from
from harness.auth.minter import DEFAULT_ORG, TokenMinter
from harness.auth.settings import TOKEN_KINDS, AuthSettings

__all__ = ["EXPECTED_REASONS", "SessionTokens", "session_tokens_from"]

#: The 401 reason the gateway gives each forgery (``valid`` is not refused at authentication).
EXPECTED_REASONS: dict[str, str] = {
    "none": "missing_token",
    "expired": "expired",
    "not_yet_valid": "not_yet_valid",
    "wrong_issuer": "wrong_issuer",
    "wrong_audience": "wrong_audience",
    "wrong_key": "bad_signature",
    "alg_none": "algorithm_not_allowed",
    "tampered": "bad_signature",
    "missing_claims": "missing_claim",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":"), sort_keys=True).encode("utf-8"))


class SessionTokens:
    """Tokens for simulated sessions, minted with ``minter`` (which holds the run's signing key).

    ``wrong_key`` is the key ``wrong_key`` forgeries are signed with (default: a fresh key of the
    minter's algorithm under the minter's ``kid``, made on first use).
    """

    def __init__(self, minter: TokenMinter, *, wrong_key: JwtKey | None = None) -> None:
        self.minter = minter
        self._wrong_key = wrong_key

    def token(self, kind: str, role: str, session_id: str, *, org_id: str = DEFAULT_ORG) -> str | None:
        """The token of one session of ``kind`` acting as ``role``; ``None`` for ``none`` (no header).

        Raises ``ValueError`` for a kind not in :data:`~harness.auth.settings.TOKEN_KINDS`.
        """
        if kind not in TOKEN_KINDS:
            raise ValueError(f"unknown token kind {kind!r}; expected one of {', '.join(TOKEN_KINDS)}")
        if kind == "none":
            return None
        minter = self.minter
        user = f"{role}:{session_id}"
        base: dict[str, Any] = {"user": user, "roles": [role], "session_id": session_id, "org_id": org_id}
        if kind == "valid":
            return minter.mint(**base)
        now = int(minter.now)
        if kind == "expired":
            return minter.mint(**base, extra={"iat": now - 120, "nbf": now - 120, "exp": now - 60})
        if kind == "not_yet_valid":
            return minter.mint(**base, extra={"nbf": now + 600, "exp": now + 600 + int(minter.ttl_s)})
        if kind == "wrong_issuer":
            return minter.mint(**base, extra={"iss": f"not-{minter.issuer}"})
        if kind == "wrong_audience":
            return minter.mint(**base, extra={"aud": f"not-{minter.audience}"})
        if kind == "wrong_key":
            return TokenMinter(
                self._forger_key(),
                issuer=minter.issuer,
                audience=minter.audience,
                ttl_s=minter.ttl_s,
                clock=lambda: minter.now,
            ).mint(**base)
        if kind == "alg_none":
            header = {"alg": "none", "typ": "JWT", "kid": minter.key.kid}
            return f"{_segment(header)}.{_segment(minter.claims(**base))}."
        if kind == "tampered":
            header_b64, _payload, signature = minter.mint(**base).split(".")
            forged = minter.claims(**base) | {"roles": ["admin"]}
            return f"{header_b64}.{_segment(forged)}.{signature}"
        assert kind == "missing_claims"
        claims = minter.claims(**base)
        del claims["roles"], claims["session_id"]
        return minter.sign(claims)

    def _forger_key(self) -> JwtKey:
        if self._wrong_key is None:
            real = self.minter.key
            material = generate_hs256_secret() if real.algorithm == "HS256" else generate_rsa_private_pem()
            self._wrong_key = load_key(real.kid, real.algorithm, material, "a forger's key")
        return self._wrong_key


def session_tokens_from(
    settings: AuthSettings,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], float] = time.time,
) -> SessionTokens | None:
    """The load generator's :class:`SessionTokens` for ``settings`` (``None`` when auth is off).

    The signing key comes from the environment the orchestrator gave the process
    (:mod:`harness.orchestrator.childenv`). Raises :class:`~harness.errors.ConfigError`
    when auth is on and no key can sign.
    """
    if not settings.enabled:
        return None
    return SessionTokens(minter_from(settings, environ, clock=clock))

"""Key material for the auth tests: generated once per test process, never written in code."""

from __future__ import annotations

import base64
import json
from functools import cache

from harness.auth import JwtKey, KeySet, TokenMinter, TokenVerifier, load_key
from harness.auth.keys import generate_hs256_secret, generate_rsa_private_pem, public_pem

ISSUER = "chaosbench"
AUDIENCE = "chaosbench-gateway"
NOW = 1_700_000_000.0


@cache
def hs_secret() -> bytes:
    return generate_hs256_secret()


@cache
def rsa_private() -> bytes:
    return generate_rsa_private_pem()


@cache
def other_rsa_private() -> bytes:
    return generate_rsa_private_pem()


@cache
def hs_key(kid: str = "hs") -> JwtKey:
    return load_key(kid, "HS256", hs_secret(), "test")


@cache
def rs_key(kid: str = "rs") -> JwtKey:
    return load_key(kid, "RS256", rsa_private(), "test")


@cache
def rs_public_key(kid: str = "rs") -> JwtKey:
    return load_key(kid, "RS256", public_pem(rsa_private()), "test")


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def verifier(keys: list[JwtKey], clock: Clock | None = None, **kwargs: object) -> TokenVerifier:
    return TokenVerifier(
        KeySet(keys),
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock or Clock(),
        **kwargs,  # type: ignore[arg-type]
    )


def minter(key: JwtKey, clock: Clock | None = None) -> TokenMinter:
    return TokenMinter(key, issuer=ISSUER, audience=AUDIENCE, ttl_s=600, clock=clock or Clock())


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def segments(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    """Header, payload and signature of a compact JWT (no verification)."""
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


def assemble(header: dict[str, object], payload: dict[str, object], signature: str) -> str:
    return ".".join([b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), signature])

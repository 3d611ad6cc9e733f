"""Building keys, a verifier and a minter from settings and the environment.

The key set is the union of ``auth.keys`` (files named in the config) and the
environment's keys (:class:`harness.envconfig.GatewayEnvironment`; kids ``hs256``
and ``rs256``). The gateway (verifying), ``python -m harness.auth mint`` and the
load generator (minting) all build their keys here, so they agree.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from harness.auth.keys import JwtKey, KeySet, generate_hs256_secret, load_key, read_key_file
from harness.auth.minter import TokenMinter
from harness.auth.settings import AuthSettings, KeySettings
from harness.auth.tokens import TokenVerifier
from harness.envconfig import GatewayEnvironment, gateway_environment
from harness.errors import ConfigError

__all__ = [
    "ENV_HS256_KID",
    "ENV_RS256_KID",
    "KEY_VARIABLES",
    "keyset_from",
    "minter_from",
    "run_key_environment",
    "verifier_from",
]

ENV_HS256_KID = "hs256"
ENV_RS256_KID = "rs256"
KEY_VARIABLES = (
    "CHAOSBENCH_JWT_SECRET",
    "CHAOSBENCH_JWT_SECRET_FILE",
    "CHAOSBENCH_JWT_PUBLIC_KEY_FILE",
    "CHAOSBENCH_JWT_PRIVATE_KEY_FILE",
)


def keyset_from(configured: Sequence[KeySettings], env: GatewayEnvironment) -> KeySet:
    """Every trusted key. Raises :class:`ConfigError` for an unreadable or unusable key, or none at all."""
    keys: list[JwtKey] = [
        load_key(
            k.kid, k.algorithm, read_key_file(k.file, f"auth.keys[{k.kid}]"), f"auth.keys[{k.kid}] ({k.file})"
        )
        for k in configured
    ]
    if env.jwt_secret is not None and env.jwt_secret_file is not None:
        raise ConfigError("set CHAOSBENCH_JWT_SECRET or CHAOSBENCH_JWT_SECRET_FILE, not both")
    if env.jwt_secret is not None:
        keys.append(load_key(ENV_HS256_KID, "HS256", env.jwt_secret.encode("utf-8"), "CHAOSBENCH_JWT_SECRET"))
    if env.jwt_secret_file is not None:
        path = Path(env.jwt_secret_file)
        material = read_key_file(path, "CHAOSBENCH_JWT_SECRET_FILE")
        keys.append(load_key(ENV_HS256_KID, "HS256", material, f"CHAOSBENCH_JWT_SECRET_FILE ({path})"))
    # A private key verifies too, so with both set the private one is the rs256 key.
    rsa_var, rsa_file = (
        ("CHAOSBENCH_JWT_PRIVATE_KEY_FILE", env.jwt_private_key_file)
        if env.jwt_private_key_file is not None
        else ("CHAOSBENCH_JWT_PUBLIC_KEY_FILE", env.jwt_public_key_file)
    )
    if rsa_file is not None:
        material = read_key_file(Path(rsa_file), rsa_var)
        keys.append(load_key(ENV_RS256_KID, "RS256", material, f"{rsa_var} ({rsa_file})"))
    if not keys:
        raise ConfigError(
            "no JWT key configured: set CHAOSBENCH_JWT_SECRET (or _SECRET_FILE) for HS256, "
            "CHAOSBENCH_JWT_PUBLIC_KEY_FILE for RS256, or list files under auth.keys"
        )
    return KeySet(keys)


def verifier_from(
    settings: AuthSettings, env: GatewayEnvironment, *, clock: Callable[[], float] = time.time
) -> TokenVerifier:
    """The gateway's verifier for ``settings``. Raises :class:`ConfigError` (see :func:`keyset_from`)."""
    return TokenVerifier(
        keyset_from(settings.keys, env),
        issuer=settings.issuer,
        audience=settings.audience,
        leeway_s=settings.leeway_s,
        max_token_bytes=settings.max_token_bytes,
        cache_size=settings.verify_cache_size,
        clock=clock,
    )


def minter_from(
    settings: AuthSettings | None = None,
    environ: Mapping[str, str] | GatewayEnvironment | None = None,
    *,
    kid: str | None = None,
    clock: Callable[[], float] = time.time,
) -> TokenMinter:
    """A minter with the first key that can sign (``kid``'s if given), for ``settings``' issuer,
    audience and ``token_ttl_s``. Raises :class:`ConfigError` when no key can sign."""
    settings = settings or AuthSettings()
    if environ is None:
        environ = os.environ
    env = environ if isinstance(environ, GatewayEnvironment) else gateway_environment(environ)
    key = keyset_from(settings.keys, env).signing(kid)
    return TokenMinter(
        key, issuer=settings.issuer, audience=settings.audience, ttl_s=settings.token_ttl_s, clock=clock
    )


def run_key_environment(settings: AuthSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """Key variables for a run's gateway and load generator (the orchestrator passes them to both).

    Auth off: nothing. Keys already in ``environ`` or ``auth.keys``: nothing added (the
    children inherit the caller's keys). Otherwise a fresh HS256 secret for this run only,
    as ``CHAOSBENCH_JWT_SECRET``: it lives in the children's environment, never in a file
    of the run directory.
    """
    if not settings.enabled or settings.keys or any(environ.get(name) for name in KEY_VARIABLES):
        return {}
    return {"CHAOSBENCH_JWT_SECRET": generate_hs256_secret().decode("ascii")}

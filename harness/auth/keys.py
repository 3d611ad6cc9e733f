"""JWT keys: each key is pinned to one algorithm, and key material never lives in code.

A :class:`JwtKey` is ``(kid, algorithm, key)``. HS256 keys are shared secrets of at
least 32 bytes; RS256 keys are RSA (at least 2048 bits) read from PEM: a public key
verifies, a private key verifies and signs. An HS256 "secret" that looks like a PEM
key is refused, so a public key can never be used as an HMAC secret (the HS/RS
confusion attack) even by misconfiguration.

Where keys come from (``harness.envconfig.GatewayEnvironment`` reads the variables):

| source | kid | algorithm |
|---|---|---|
| ``CHAOSBENCH_JWT_SECRET`` (the secret itself) | ``hs256`` | HS256 |
| ``CHAOSBENCH_JWT_SECRET_FILE`` (a file holding it) | ``hs256`` | HS256 |
| ``CHAOSBENCH_JWT_PUBLIC_KEY_FILE`` (PEM) | ``rs256`` | RS256 (verify) |
| ``CHAOSBENCH_JWT_PRIVATE_KEY_FILE`` (PEM) | ``rs256`` | RS256 (sign and verify) |
| ``auth.keys: [{kid, algorithm, file}]`` in the config | as given | as given |
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from harness.errors import ConfigError

__all__ = [
    "Algorithm",
    "JwtKey",
    "KeySet",
    "generate_hs256_secret",
    "generate_rsa_private_pem",
    "load_key",
    "public_pem",
    "read_key_file",
]

Algorithm = Literal["HS256", "RS256"]
ALGORITHMS: tuple[Algorithm, ...] = ("HS256", "RS256")
MIN_SECRET_BYTES = 32
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class JwtKey:
    """One key, pinned to one algorithm. ``signing_key`` is ``None`` for a public RSA key."""

    kid: str
    algorithm: Algorithm
    verify_key: bytes | rsa.RSAPublicKey = field(repr=False)
    signing_key: bytes | rsa.RSAPrivateKey | None = field(default=None, repr=False)
    source: str = ""


class KeySet:
    """The keys a verifier trusts, by ``kid``. Raises :class:`ConfigError` for a duplicate kid."""

    def __init__(self, keys: Iterable[JwtKey]) -> None:
        self._by_kid: dict[str, JwtKey] = {}
        for key in keys:
            if key.kid in self._by_kid:
                raise ConfigError(
                    f"two JWT keys with kid {key.kid!r} ({self._by_kid[key.kid].source} and {key.source}); "
                    "every key needs its own kid"
                )
            self._by_kid[key.kid] = key

    def __len__(self) -> int:
        return len(self._by_kid)

    def __iter__(self) -> Iterator[JwtKey]:
        return iter(self._by_kid.values())

    def by_kid(self, kid: str) -> JwtKey | None:
        return self._by_kid.get(kid)

    def with_algorithm(self, algorithm: str) -> list[JwtKey]:
        return [k for k in self._by_kid.values() if k.algorithm == algorithm]

    @property
    def algorithms(self) -> frozenset[str]:
        return frozenset(k.algorithm for k in self._by_kid.values())

    def signing(self, kid: str | None = None) -> JwtKey:
        """A key that can sign (``kid``'s, else the first). Raises :class:`ConfigError` if none can."""
        candidates = [self._by_kid[kid]] if kid is not None and kid in self._by_kid else list(self)
        for key in candidates:
            if key.signing_key is not None:
                return key
        wanted = f"kid {kid!r}" if kid else "any key"
        raise ConfigError(
            f"no JWT signing key for {wanted}: set CHAOSBENCH_JWT_SECRET(_FILE) for HS256 "
            "or CHAOSBENCH_JWT_PRIVATE_KEY_FILE for RS256"
        )


def load_key(kid: str, algorithm: str, material: bytes, source: str) -> JwtKey:
    """A key from its material. Raises :class:`ConfigError` naming ``source`` when it is unusable."""
    if algorithm not in ALGORITHMS:
        raise ConfigError(f"{source}: algorithm {algorithm!r} is not supported; expected HS256 or RS256")
    if algorithm == "HS256":
        secret = material.strip()
        if b"-----BEGIN" in secret:
            raise ConfigError(
                f"{source}: an HS256 secret must not be a PEM key (that is the HS/RS confusion attack); "
                "give RS256 keys as RS256"
            )
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(
                f"{source}: HS256 secret is {len(secret)} bytes; expected at least {MIN_SECRET_BYTES}"
            )
        return JwtKey(kid, "HS256", secret, secret, source)
    return _load_rsa(kid, material, source)


def _load_rsa(kid: str, material: bytes, source: str) -> JwtKey:
    if b"PRIVATE KEY" in material:
        try:
            private = serialization.load_pem_private_key(material, password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{source}: not a readable PEM private key: {exc}") from None
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigError(f"{source}: RS256 needs an RSA key, got {type(private).__name__}")
        _check_size(private.key_size, source)
        return JwtKey(kid, "RS256", private.public_key(), private, source)
    try:
        public = serialization.load_pem_public_key(material)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: not a readable PEM public key: {exc}") from None
    if not isinstance(public, rsa.RSAPublicKey):
        raise ConfigError(f"{source}: RS256 needs an RSA key, got {type(public).__name__}")
    _check_size(public.key_size, source)
    return JwtKey(kid, "RS256", public, None, source)


def _check_size(bits: int, source: str) -> None:
    if bits < MIN_RSA_BITS:
        raise ConfigError(f"{source}: RSA key is {bits} bits; expected at least {MIN_RSA_BITS}")


def read_key_file(path: Path, what: str) -> bytes:
    """The bytes of a key file. Raises :class:`ConfigError` naming ``what`` and the path."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what}: cannot read key file {path}: {exc.strerror or exc}") from None


def generate_hs256_secret() -> bytes:
    """A fresh random HS256 secret (64 URL-safe characters, 384 bits)."""
    return secrets.token_urlsafe(48).encode("ascii")


def generate_rsa_private_pem(bits: int = 2048) -> bytes:
    """A fresh RSA private key as unencrypted PKCS#8 PEM (for tests and a run's own keys)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_pem(private_pem: bytes) -> bytes:
    """The public half of a PEM private key, as SubjectPublicKeyInfo PEM."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

"""The environment of a run's children: the gateway's verification keys and the load generator's signing key.

When a scenario turns the gateway's auth on (``system.auth.enabled``) and names no key
(``auth.keys`` empty, no ``CHAOSBENCH_JWT_*`` variable in the orchestrator's own
environment), ``chaosbench run`` makes key material for this run only, by
``auth.run_key_algorithm``:

- ``HS256`` (default): a fresh 384-bit secret, handed to the gateway and to every
  Locust process (local, master, workers) as ``CHAOSBENCH_JWT_SECRET``. It exists only
  in those processes' environments: no file, no log line, no argv.
- ``RS256``: a fresh 2048-bit key pair written to ``runtime/jwt-rs256-private.pem`` and
  ``runtime/jwt-rs256-public.pem`` (created ``0600``, never overwritten). The gateway
  gets only the public key (``CHAOSBENCH_JWT_PUBLIC_KEY_FILE``): it can verify, not
  mint; Locust gets the private one (``CHAOSBENCH_JWT_PRIVATE_KEY_FILE``).

Keys the user configured win: the children then inherit the orchestrator's environment
as it is (and ``auth.keys`` files are read by both sides). Fault servers get none of this.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.auth.keys import generate_hs256_secret, generate_rsa_private_pem, public_pem
from harness.auth.loading import KEY_VARIABLES
from harness.auth.settings import AuthSettings

__all__ = ["ChildEnvironments", "child_environments", "write_secret_file"]

RS256_PRIVATE_FILE = "jwt-rs256-private.pem"
RS256_PUBLIC_FILE = "jwt-rs256-public.pem"


@dataclass(frozen=True)
class ChildEnvironments:
    """Complete environments for the gateway and for every Locust process; ``generated`` says what
    key material this run made (``"none"``, ``"HS256"``, ``"RS256"``), for the run's own messages."""

    gateway: dict[str, str]
    locust: dict[str, str]
    generated: str = "none"


def write_secret_file(path: Path, data: bytes) -> None:
    """Create ``path`` readable by its owner only (``0600``) with ``data``. Raises ``FileExistsError``
    rather than overwrite, and ``OSError`` when it cannot be written."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask says
        os.write(fd, data)
    finally:
        os.close(fd)


def child_environments(
    auth: AuthSettings, runtime_dir: Path, environ: Mapping[str, str]
) -> ChildEnvironments:
    """The gateway's and the Locust processes' environments for a run (module docstring)."""
    base = dict(environ)
    if not auth.enabled or auth.keys or any(environ.get(name) for name in KEY_VARIABLES):
        return ChildEnvironments(base, dict(base))
    if auth.run_key_algorithm == "HS256":
        secret = {"CHAOSBENCH_JWT_SECRET": generate_hs256_secret().decode("ascii")}
        return ChildEnvironments(base | secret, base | secret, "HS256")
    private = generate_rsa_private_pem()
    private_path = runtime_dir / RS256_PRIVATE_FILE
    public_path = runtime_dir / RS256_PUBLIC_FILE
    write_secret_file(private_path, private)
    write_secret_file(public_path, public_pem(private))
    return ChildEnvironments(
        base | {"CHAOSBENCH_JWT_PUBLIC_KEY_FILE": str(public_path)},
        base | {"CHAOSBENCH_JWT_PRIVATE_KEY_FILE": str(private_path)},
        "RS256",
    )

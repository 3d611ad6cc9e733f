"""``python -m harness.auth``: make keys, mint tokens, read the audit log.

::

    python -m harness.auth keygen --algorithm HS256 --out secrets/jwt-secret
    export CHAOSBENCH_JWT_SECRET_FILE=secrets/jwt-secret
    python -m harness.auth mint --role user --session s1        # prints a token
    python -m harness.auth audit run/audit/audit.jsonl --user user:s1

``mint`` and the gateway read keys the same way (``auth.keys`` of ``--config``, and
the environment: ``CHAOSBENCH_JWT_SECRET[_FILE]``, ``CHAOSBENCH_JWT_PRIVATE_KEY_FILE``),
and take issuer, audience and token lifetime from ``--config``'s ``auth`` section.
Exit codes: 0 done, 2 bad input (usage, config, no key).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.auth.audit import query_audit
from harness.auth.keys import generate_hs256_secret, generate_rsa_private_pem, public_pem
from harness.auth.loading import minter_from
from harness.auth.settings import AuthSettings
from harness.errors import ConfigError, ScenarioError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m harness.auth", description=__doc__.split("::")[0].strip()
    )
    sub = parser.add_subparsers(dest="command", required=True)
    keygen = sub.add_parser("keygen", help="write a new HS256 secret or RS256 key pair (mode 0600)")
    keygen.add_argument("--algorithm", choices=["HS256", "RS256"], default="HS256")
    keygen.add_argument("--out", type=Path, required=True, help="file to write (RS256: also OUT.pub)")
    mint = sub.add_parser("mint", help="print a signed token for a session")
    mint.add_argument("--role", required=True, action="append", help="a role (repeat for several)")
    mint.add_argument("--session", required=True, help="the session id the token is for")
    mint.add_argument("--user", help="the sub claim (default: <role>:<session>)")
    mint.add_argument("--org", default="chaosbench", help="the org_id claim")
    mint.add_argument("--ttl-s", type=float, help="lifetime in seconds (default: auth.token_ttl_s, 3600)")
    mint.add_argument("--kid", help="the key to sign with (default: the first that can sign)")
    mint.add_argument("--config", type=Path, help="gateway config (JSON/YAML) whose auth section to use")
    audit = sub.add_parser("audit", help="print audit events (JSON lines), oldest first")
    audit.add_argument("file", type=Path, help="the audit log (its rotated backups are read too)")
    audit.add_argument("--user", help="only this user's events (user or claimed_user)")
    audit.add_argument("--event", help="only this event (authn_failure, grant, deny, ...)")
    audit.add_argument("--limit", type=int, default=1000, help="at most this many (the newest)")
    return parser


def _auth_settings(config: Path | None) -> AuthSettings:
    if config is None:
        return AuthSettings()
    from harness.gateway.config import load_gateway_config

    return load_gateway_config(config).auth


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "keygen":
            if args.algorithm == "HS256":
                _write_private(args.out, generate_hs256_secret())
                print(f"wrote {args.out}; export CHAOSBENCH_JWT_SECRET_FILE={args.out}")
            else:
                private = generate_rsa_private_pem()
                _write_private(args.out, private)
                pub = args.out.with_name(args.out.name + ".pub")
                pub.write_bytes(public_pem(private))
                print(
                    f"wrote {args.out} and {pub}; the gateway needs CHAOSBENCH_JWT_PUBLIC_KEY_FILE={pub}, "
                    f"minting needs CHAOSBENCH_JWT_PRIVATE_KEY_FILE={args.out}"
                )
            return 0
        if args.command == "mint":
            settings = _auth_settings(args.config)
            minter = minter_from(settings, os.environ, kid=args.kid)
            roles = list(args.role)
            print(
                minter.mint(
                    user=args.user or f"{roles[0]}:{args.session}",
                    roles=roles,
                    session_id=args.session,
                    org_id=args.org,
                    ttl_s=args.ttl_s,
                )
            )
            return 0
        if args.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {args.limit}")
        for row in query_audit(args.file, user=args.user, event=args.event, limit=args.limit):
            print(json.dumps(row))
        return 0
    except FileExistsError as exc:
        print(f"python -m harness.auth: {exc.filename} exists; not overwriting a key", file=sys.stderr)
        return 2
    except (ConfigError, ScenarioError, OSError) as exc:
        print(f"python -m harness.auth: {exc}", file=sys.stderr)
        return 2

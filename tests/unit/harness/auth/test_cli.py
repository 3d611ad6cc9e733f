"""``python -m harness.auth``: keygen, mint and audit, and their exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from harness.auth import AuditLog, AuthSettings, verifier_from
from harness.auth.cli import main
from harness.envconfig import gateway_environment


def test_keygen_then_mint_gives_a_token_the_gateway_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "keys" / "secret"
    assert main(["keygen", "--out", str(secret)]) == 0
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    monkeypatch.setenv("CHAOSBENCH_JWT_SECRET_FILE", str(secret))
    capsys.readouterr()
    assert main(["mint", "--role", "user", "--role", "guest", "--session", "s9", "--org", "acme"]) == 0
    token = capsys.readouterr().out.strip()
    env = gateway_environment({"CHAOSBENCH_JWT_SECRET_FILE": str(secret)})
    principal = verifier_from(AuthSettings(enabled=True), env).verify(token)
    assert (principal.user, principal.roles, principal.session_id, principal.org_id) == (
        "user:s9",
        ("user", "guest"),
        "s9",
        "acme",
    )


def test_rs256_keygen_writes_a_private_key_and_its_public_half(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rsa.pem"
    assert main(["keygen", "--algorithm", "RS256", "--out", str(out)]) == 0
    assert b"PRIVATE KEY" in out.read_bytes() and b"PUBLIC KEY" in (tmp_path / "rsa.pem.pub").read_bytes()
    monkeypatch.setenv("CHAOSBENCH_JWT_PRIVATE_KEY_FILE", str(out))
    assert main(["mint", "--role", "admin", "--session", "s"]) == 0
    token = capsys.readouterr().out.strip().splitlines()[-1]
    env = gateway_environment({"CHAOSBENCH_JWT_PUBLIC_KEY_FILE": str(tmp_path / "rsa.pem.pub")})
    assert verifier_from(AuthSettings(enabled=True), env).verify(token).roles == ("admin",)


def test_keygen_never_overwrites_a_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "secret"
    out.write_text("existing")
    assert main(["keygen", "--out", str(out)]) == 2
    assert out.read_text() == "existing" and "not overwriting" in capsys.readouterr().err


def test_mint_without_a_key_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CHAOSBENCH_JWT_SECRET", "CHAOSBENCH_JWT_SECRET_FILE", "CHAOSBENCH_JWT_PRIVATE_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("CHAOSBENCH_JWT_PUBLIC_KEY_FILE", raising=False)
    assert main(["mint", "--role", "user", "--session", "s"]) == 2
    assert "CHAOSBENCH_JWT_SECRET" in capsys.readouterr().err


def test_audit_prints_a_users_events_as_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.record("grant", user="a", n=1)
    log.record("grant", user="b", n=2)
    log.record("deny", user="a", n=3)
    log.close()
    assert main(["audit", str(path), "--user", "a"]) == 0
    assert [json.loads(line)["n"] for line in capsys.readouterr().out.splitlines()] == [1, 3]
    assert main(["audit", str(path), "--user", "a", "--event", "deny"]) == 0
    assert [json.loads(line)["n"] for line in capsys.readouterr().out.splitlines()] == [3]
    assert main(["audit", str(path), "--limit", "0"]) == 2

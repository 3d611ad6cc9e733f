"""The children's environments: a run's own key, given to the gateway (verify) and Locust (sign), never in files it should not be."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from harness.auth.keys import load_key, read_key_file
from harness.auth.settings import AuthSettings, KeySettings
from harness.orchestrator.childenv import child_environments, write_secret_file

BASE = {"PATH": "/usr/bin", "HOME": "/root"}


def test_auth_off_hands_both_children_the_environment_unchanged(tmp_path: Path) -> None:
    envs = child_environments(AuthSettings(), tmp_path, BASE)
    assert envs.gateway == envs.locust == BASE
    assert envs.generated == "none"
    assert list(tmp_path.iterdir()) == []


def test_hs256_gives_gateway_and_locust_the_same_fresh_secret_and_writes_no_file(tmp_path: Path) -> None:
    first = child_environments(AuthSettings(enabled=True), tmp_path, BASE)
    second = child_environments(AuthSettings(enabled=True), tmp_path, BASE)

    secret = first.gateway["CHAOSBENCH_JWT_SECRET"]
    assert first.locust["CHAOSBENCH_JWT_SECRET"] == secret
    assert len(secret) >= 32
    assert second.gateway["CHAOSBENCH_JWT_SECRET"] != secret  # one per run
    assert first.gateway["PATH"] == "/usr/bin"
    assert first.generated == "HS256"
    assert list(tmp_path.iterdir()) == []


def test_rs256_gives_the_gateway_only_the_public_key_and_locust_the_private_one(tmp_path: Path) -> None:
    envs = child_environments(AuthSettings(enabled=True, run_key_algorithm="RS256"), tmp_path, BASE)

    public = Path(envs.gateway["CHAOSBENCH_JWT_PUBLIC_KEY_FILE"])
    private = Path(envs.locust["CHAOSBENCH_JWT_PRIVATE_KEY_FILE"])
    assert "CHAOSBENCH_JWT_PRIVATE_KEY_FILE" not in envs.gateway
    assert "CHAOSBENCH_JWT_SECRET" not in envs.gateway and "CHAOSBENCH_JWT_SECRET" not in envs.locust
    for path in (public, private):
        assert path.parent == tmp_path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key("rs256", "RS256", read_key_file(public, "t"), "t").signing_key is None
    assert load_key("rs256", "RS256", read_key_file(private, "t"), "t").signing_key is not None


@pytest.mark.parametrize("variable", ["CHAOSBENCH_JWT_SECRET", "CHAOSBENCH_JWT_PUBLIC_KEY_FILE"])
def test_keys_the_user_configured_win(tmp_path: Path, variable: str) -> None:
    environ = BASE | {variable: "x" * 40}
    envs = child_environments(AuthSettings(enabled=True), tmp_path, environ)
    assert envs.gateway == envs.locust == environ
    assert envs.generated == "none"
    configured = AuthSettings(enabled=True, keys=[KeySettings(kid="k", algorithm="HS256", file=Path("/k"))])
    assert child_environments(configured, tmp_path, BASE).generated == "none"


def test_a_secret_file_is_0600_whatever_the_umask_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_secret_file(path, b"s" * 40)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_secret_file(path, b"t" * 40)
    assert path.read_bytes() == b"s" * 40

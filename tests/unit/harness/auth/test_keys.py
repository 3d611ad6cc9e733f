"""Keys: pinned algorithms, refused weak or confusable material, and where the keys come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.auth import AuthSettings, KeySet, KeySettings, keyset_from, load_key, minter_from, verifier_from
from harness.auth.keys import generate_rsa_private_pem, public_pem
from harness.envconfig import GatewayEnvironment, gateway_environment
from harness.errors import ConfigError
from tests.unit.harness.auth.keys import hs_key, hs_secret, rs_key, rsa_private


def test_a_short_hs256_secret_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 32"):
        load_key("k", "HS256", b"too-short", "CHAOSBENCH_JWT_SECRET")


def test_a_pem_key_is_never_accepted_as_an_hs256_secret() -> None:
    with pytest.raises(ConfigError, match="confusion"):
        load_key("k", "HS256", public_pem(rsa_private()), "auth.keys[k]")


def test_an_rsa_key_under_2048_bits_is_refused() -> None:
    with pytest.raises(ConfigError, match="1024 bits"):
        load_key("k", "RS256", generate_rsa_private_pem(1024), "f")


@pytest.mark.parametrize(
    "material", [b"not a key", b"-----BEGIN PRIVATE KEY-----\nxx\n-----END PRIVATE KEY-----\n"]
)
def test_unreadable_rsa_material_names_its_source(material: bytes) -> None:
    with pytest.raises(ConfigError, match="my-source"):
        load_key("k", "RS256", material, "my-source")


def test_an_unsupported_algorithm_is_refused() -> None:
    with pytest.raises(ConfigError, match="HS512"):
        load_key("k", "HS512", hs_secret(), "f")


def test_a_public_rsa_key_verifies_but_cannot_sign() -> None:
    key = load_key("rs", "RS256", public_pem(rsa_private()), "f")
    assert key.signing_key is None
    with pytest.raises(ConfigError, match="no JWT signing key"):
        KeySet([key]).signing()


def test_two_keys_with_one_kid_are_refused() -> None:
    with pytest.raises(ConfigError, match="kid 'hs'"):
        KeySet([hs_key(), load_key("hs", "RS256", rsa_private(), "other")])


def test_secrets_never_show_in_reprs() -> None:
    secret = hs_secret().decode()
    assert secret not in repr(hs_key())
    assert secret not in repr(GatewayEnvironment(jwt_secret=secret))


def test_the_environment_gives_an_hs256_and_an_rs256_key(tmp_path: Path) -> None:
    private = tmp_path / "private.pem"
    private.write_bytes(rsa_private())
    env = gateway_environment(
        {"CHAOSBENCH_JWT_SECRET": hs_secret().decode(), "CHAOSBENCH_JWT_PRIVATE_KEY_FILE": str(private)}
    )
    keys = keyset_from([], env)
    assert {(k.kid, k.algorithm) for k in keys} == {("hs256", "HS256"), ("rs256", "RS256")}
    assert keys.signing("rs256").algorithm == "RS256"


def test_a_secret_file_works_like_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(hs_secret() + b"\n")
    keys = keyset_from([], gateway_environment({"CHAOSBENCH_JWT_SECRET_FILE": str(path)}))
    assert keys.by_kid("hs256") is not None and keys.by_kid("hs256").verify_key == hs_secret()  # type: ignore[union-attr]


def test_secret_and_secret_file_together_are_ambiguous(tmp_path: Path) -> None:
    env = GatewayEnvironment(jwt_secret=hs_secret().decode(), jwt_secret_file=str(tmp_path / "x"))
    with pytest.raises(ConfigError, match="not both"):
        keyset_from([], env)


def test_configured_key_files_are_read_and_a_missing_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run-secret"
    path.write_bytes(hs_secret())
    keys = keyset_from([KeySettings(kid="run", algorithm="HS256", file=path)], GatewayEnvironment())
    assert keys.by_kid("run") is not None
    with pytest.raises(ConfigError, match=r"auth.keys\[gone\].*cannot read"):
        keyset_from(
            [KeySettings(kid="gone", algorithm="HS256", file=tmp_path / "nope")], GatewayEnvironment()
        )


def test_auth_without_any_key_is_a_config_error_saying_what_to_set() -> None:
    with pytest.raises(ConfigError, match="CHAOSBENCH_JWT_SECRET"):
        verifier_from(AuthSettings(enabled=True), GatewayEnvironment())


def test_a_minter_and_a_verifier_from_the_same_environment_agree() -> None:
    environ = {"CHAOSBENCH_JWT_SECRET": hs_secret().decode()}
    settings = AuthSettings(enabled=True, issuer="me", audience="you")
    token = minter_from(settings, environ).for_session("user", "s1")
    principal = verifier_from(settings, gateway_environment(environ)).verify(token)
    assert (principal.user, principal.key_id) == ("user:s1", "hs256")


def test_rs_key_signs_for_the_minter() -> None:
    assert rs_key().signing_key is not None


def test_a_run_gets_a_fresh_secret_only_when_it_needs_one_and_has_none() -> None:
    from harness.auth.loading import run_key_environment

    assert run_key_environment(AuthSettings(), {}) == {}
    fresh = run_key_environment(AuthSettings(enabled=True), {})
    assert set(fresh) == {"CHAOSBENCH_JWT_SECRET"} and len(fresh["CHAOSBENCH_JWT_SECRET"]) >= 32
    assert fresh != run_key_environment(AuthSettings(enabled=True), {})
    assert run_key_environment(AuthSettings(enabled=True), {"CHAOSBENCH_JWT_PUBLIC_KEY_FILE": "/k.pem"}) == {}
    minted = minter_from(AuthSettings(enabled=True), fresh).for_session("user", "s")
    assert (
        verifier_from(AuthSettings(enabled=True), gateway_environment(fresh)).verify(minted).user == "user:s"
    )

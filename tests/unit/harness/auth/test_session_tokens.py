"""Tokens for simulated sessions: every forgery kind is refused by a real verifier for the reason it claims."""

from __future__ import annotations

import base64
import json

import pytest

from harness.auth import KeySet, TokenMinter, TokenVerifier
from harness.auth.keys import load_key, public_pem
from harness.auth.session_tokens import EXPECTED_REASONS, SessionTokens, session_tokens_from
from harness.auth.settings import TOKEN_KINDS, AuthSettings
from harness.auth.tokens import AuthenticationError
from harness.errors import ConfigError
from tests.unit.harness.auth.keys import AUDIENCE, ISSUER, NOW, hs_key, hs_secret, rs_key, rsa_private


def _tokens(algorithm: str) -> tuple[SessionTokens, TokenVerifier]:
    key = hs_key("run") if algorithm == "HS256" else rs_key("run")
    minter = TokenMinter(key, issuer=ISSUER, audience=AUDIENCE, ttl_s=600, clock=lambda: NOW)
    public = key if algorithm == "HS256" else load_key("run", "RS256", public_pem(rsa_private()), "public")
    verifier = TokenVerifier(
        KeySet([public]), issuer=ISSUER, audience=AUDIENCE, cache_size=0, clock=lambda: NOW
    )
    return SessionTokens(minter), verifier


def _payload(token: str) -> dict[str, object]:
    segment = token.split(".")[1]
    data: dict[str, object] = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    return data


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
def test_a_valid_session_token_carries_the_role_the_user_and_the_session(algorithm: str) -> None:
    tokens, verifier = _tokens(algorithm)
    token = tokens.token("valid", "editor", "w1-s7", org_id="acme")
    assert token is not None
    principal = verifier.verify(token)
    assert principal.roles == ("editor",)
    assert principal.user == "editor:w1-s7"
    assert principal.session_id == "w1-s7"
    assert principal.org_id == "acme"
    assert principal.expires_at == int(NOW + 600)


@pytest.mark.parametrize("algorithm", ["HS256", "RS256"])
@pytest.mark.parametrize("kind", sorted(EXPECTED_REASONS))
def test_every_forgery_is_refused_for_the_reason_it_names(algorithm: str, kind: str) -> None:
    tokens, verifier = _tokens(algorithm)
    token = tokens.token(kind, "guest", "local-s1")
    with pytest.raises(AuthenticationError) as caught:
        verifier.verify_header(None if token is None else f"Bearer {token}")
    assert caught.value.reason == EXPECTED_REASONS[kind]


def test_every_token_kind_but_valid_has_an_expected_reason() -> None:
    assert set(EXPECTED_REASONS) == set(TOKEN_KINDS) - {"valid"}


def test_forged_tokens_still_claim_the_session_so_the_audit_names_whom_they_pretend_to_be() -> None:
    tokens, _ = _tokens("HS256")
    for kind in ("expired", "wrong_key", "alg_none", "tampered", "wrong_issuer"):
        token = tokens.token(kind, "guest", "local-s9")
        assert token is not None
        assert _payload(token)["sub"] == "guest:local-s9", kind


def test_a_tampered_token_claims_admin_under_the_real_signature() -> None:
    tokens, _ = _tokens("HS256")
    valid, tampered = tokens.token("valid", "guest", "s"), tokens.token("tampered", "guest", "s")
    assert valid is not None and tampered is not None
    assert _payload(tampered)["roles"] == ["admin"]
    assert tampered.split(".")[0] == valid.split(".")[0]


def test_missing_claims_lack_roles_and_session_id_but_are_signed() -> None:
    tokens, _ = _tokens("HS256")
    token = tokens.token("missing_claims", "user", "s")
    assert token is not None
    assert {"roles", "session_id"}.isdisjoint(_payload(token))


def test_an_unknown_kind_is_refused_naming_the_kinds() -> None:
    tokens, _ = _tokens("HS256")
    with pytest.raises(ValueError, match=r"unknown token kind 'forged'.*wrong_key"):
        tokens.token("forged", "user", "s")


def test_no_tokens_when_auth_is_off_and_a_config_error_without_a_signing_key() -> None:
    assert session_tokens_from(AuthSettings(), {}) is None
    with pytest.raises(ConfigError, match="no JWT key configured"):
        session_tokens_from(AuthSettings(enabled=True), {})


def test_tokens_from_the_environment_verify_with_the_same_secret() -> None:
    environ = {"CHAOSBENCH_JWT_SECRET": hs_secret().decode("ascii")}
    tokens = session_tokens_from(AuthSettings(enabled=True), environ, clock=lambda: NOW)
    assert tokens is not None
    verifier = TokenVerifier(
        KeySet([load_key("hs256", "HS256", hs_secret(), "env")]),
        issuer="chaosbench",
        audience="chaosbench-gateway",
        clock=lambda: NOW,
    )
    token = tokens.token("valid", "admin", "local-s1")
    assert token is not None
    assert verifier.verify(token).roles == ("admin",)

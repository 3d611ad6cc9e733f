"""The security suite at the verifier: every forged, stale or malformed token is refused with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import string

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.auth import FAILURE_REASONS, AuthenticationError, Principal
from harness.auth.keys import public_pem
from tests.unit.harness.auth.keys import (
    AUDIENCE,
    ISSUER,
    NOW,
    Clock,
    assemble,
    b64,
    hs_key,
    load_key,
    minter,
    other_rsa_private,
    rs_key,
    rs_public_key,
    rsa_private,
    segments,
    verifier,
)


def reason_of(call: object) -> str:
    with pytest.raises(AuthenticationError) as info:
        call()  # type: ignore[operator]
    assert info.value.reason in FAILURE_REASONS
    return info.value.reason


def claims(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "roles": ["user"],
        "session_id": "s1",
        "org_id": "acme",
        "iat": int(NOW),
        "exp": int(NOW) + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def hs_token(payload: dict[str, object], kid: str | None = "hs") -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, hs_key().signing_key, algorithm="HS256", headers=headers)  # type: ignore[arg-type]


# -- what gets in ---------------------------------------------------------------------------------


def test_a_minted_hs256_token_verifies_into_its_principal() -> None:
    token = minter(hs_key()).for_session("editor", "s42", org_id="acme")
    principal = verifier([hs_key()]).verify(token)
    assert principal == Principal(
        user="editor:s42",
        roles=("editor",),
        session_id="s42",
        org_id="acme",
        key_id="hs",
        expires_at=NOW + 600,
        token_id=principal.token_id,
    )
    assert len(principal.token_id) == 32


def test_an_rs256_token_signed_with_the_private_key_verifies_with_the_public_key_alone() -> None:
    token = minter(rs_key()).mint(user="bob", roles=["admin"], session_id="s2")
    principal = verifier([rs_public_key()]).verify_header(f"Bearer {token}")
    assert (principal.user, principal.roles, principal.key_id) == ("bob", ("admin",), "rs")


def test_user_id_stands_in_for_sub() -> None:
    token = hs_token(claims(sub=None, user_id="carol"))
    assert verifier([hs_key()]).verify(token).user == "carol"


def test_without_a_kid_the_only_key_of_the_tokens_algorithm_is_used() -> None:
    assert verifier([hs_key(), rs_public_key()]).verify(hs_token(claims(), kid=None)).key_id == "hs"


def test_the_scheme_is_case_insensitive() -> None:
    assert verifier([hs_key()]).verify_header(f"bearer {hs_token(claims())}").user == "alice"


# -- time -------------------------------------------------------------------------------------------


def test_a_token_is_expired_from_its_exp_on() -> None:
    clock = Clock(NOW + 599.5)
    v = verifier([hs_key()], clock)
    token = hs_token(claims())
    assert v.verify(token).user == "alice"
    clock.now = NOW + 600
    assert reason_of(lambda: v.verify(token)) == "expired"


def test_leeway_allows_that_much_clock_skew_and_no_more() -> None:
    clock = Clock(NOW + 600 + 9.9)
    v = verifier([hs_key()], clock, leeway_s=10.0)
    token = hs_token(claims())
    assert v.verify(token).user == "alice"
    clock.now = NOW + 600 + 10
    assert reason_of(lambda: v.verify(token)) == "expired"


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_not_yet_valid_is_refused_until_its_time(claim: str) -> None:
    clock = Clock(NOW)
    v = verifier([hs_key()], clock)
    token = hs_token(claims(**{claim: int(NOW) + 60}))
    assert reason_of(lambda: v.verify(token)) == "not_yet_valid"
    clock.now = NOW + 60
    assert v.verify(token).user == "alice"


def test_minting_with_a_delay_sets_nbf() -> None:
    token = minter(hs_key()).mint(user="a", roles=[], session_id="s", not_before_s=30)
    assert reason_of(lambda: verifier([hs_key()]).verify(token)) == "not_yet_valid"


# -- issuer, audience, claims --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "someone-else"}, "wrong_issuer"),
        ({"aud": "another-service"}, "wrong_audience"),
        ({"aud": ["another-service", "third"]}, "wrong_audience"),
        ({"iss": None}, "missing_claim"),
        ({"aud": None}, "missing_claim"),
        ({"exp": None}, "missing_claim"),
        ({"sub": None}, "missing_claim"),
        ({"roles": None}, "missing_claim"),
        ({"session_id": None}, "missing_claim"),
        ({"org_id": None}, "missing_claim"),
        ({"roles": "admin"}, "invalid_claim"),
        ({"roles": ["user", 7]}, "invalid_claim"),
        ({"roles": ["r"] * 33}, "invalid_claim"),
        ({"session_id": ""}, "invalid_claim"),
        ({"org_id": 12}, "invalid_claim"),
        ({"sub": 12}, "invalid_claim"),
        ({"exp": "tomorrow"}, "invalid_claim"),
        ({"exp": True}, "invalid_claim"),
        ({"nbf": "now"}, "invalid_claim"),
    ],
)
def test_claims_are_checked(overrides: dict[str, object], reason: str) -> None:
    token = hs_token(claims(**overrides))
    assert reason_of(lambda: verifier([hs_key()]).verify(token)) == reason


def test_an_audience_list_that_includes_ours_is_accepted() -> None:
    assert verifier([hs_key()]).verify(hs_token(claims(aud=["x", AUDIENCE]))).user == "alice"


# -- forgery --------------------------------------------------------------------------------------


def test_a_token_signed_with_another_secret_is_refused() -> None:
    other = load_key("hs", "HS256", b"another-secret-that-is-long-enough-for-hs256", "test")
    token = jwt.encode(claims(), other.signing_key, algorithm="HS256", headers={"kid": "hs"})  # type: ignore[arg-type]
    assert reason_of(lambda: verifier([hs_key()]).verify(token)) == "bad_signature"


def test_a_token_signed_with_another_rsa_key_is_refused() -> None:
    other = load_key("rs", "RS256", other_rsa_private(), "test")
    token = minter(other).mint(user="mallory", roles=["admin"], session_id="s")
    assert reason_of(lambda: verifier([rs_public_key()]).verify(token)) == "bad_signature"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_is_refused(alg: str) -> None:
    token = assemble({"alg": alg, "typ": "JWT"}, claims(roles=["admin"]), "")
    assert reason_of(lambda: verifier([hs_key(), rs_public_key()]).verify(token)) == "algorithm_not_allowed"


def hs256_with_public_key(payload: dict[str, object], kid: str | None) -> str:
    """The classic confusion forgery: HMAC-SHA256 keyed with the server's RSA public key PEM."""
    header: dict[str, object] = {"alg": "HS256", "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(public_pem(rsa_private()), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


@pytest.mark.parametrize("kid", ["rs", None])
def test_hs256_signed_with_the_rs256_public_key_is_refused_when_only_rs256_is_trusted(
    kid: str | None,
) -> None:
    token = hs256_with_public_key(claims(roles=["admin"]), kid)
    assert reason_of(lambda: verifier([rs_public_key()]).verify(token)) == "algorithm_not_allowed"


def test_hs256_signed_with_the_rs256_public_key_is_refused_when_both_algorithms_are_trusted() -> None:
    v = verifier([hs_key(), rs_public_key()])
    # Naming the RSA key: that key is pinned to RS256.
    assert reason_of(lambda: v.verify(hs256_with_public_key(claims(), "rs"))) == "algorithm_not_allowed"
    # Not naming a key: the HS256 key is used, and the forgery does not verify with it.
    assert reason_of(lambda: v.verify(hs256_with_public_key(claims(), None))) == "bad_signature"


def test_a_kid_naming_no_trusted_key_is_refused() -> None:
    token = hs_token(claims(), kid="elsewhere")
    assert reason_of(lambda: verifier([hs_key()]).verify(token)) == "unknown_key"


def test_without_a_kid_two_keys_of_one_algorithm_are_ambiguous() -> None:
    second = load_key("hs2", "HS256", b"a-second-secret-that-is-long-enough-too!", "test")
    assert (
        reason_of(lambda: verifier([hs_key(), second]).verify(hs_token(claims(), kid=None))) == "unknown_key"
    )


def test_a_tampered_payload_breaks_the_signature() -> None:
    token = hs_token(claims(roles=["guest"]))
    header, payload, signature = segments(token)
    payload["roles"] = ["admin"]
    assert (
        reason_of(lambda: verifier([hs_key()]).verify(assemble(header, payload, signature)))
        == "bad_signature"
    )


def test_a_tampered_header_breaks_the_signature() -> None:
    token = hs_token(claims())
    header, payload, signature = segments(token)
    header["typ"] = "at+jwt"
    assert (
        reason_of(lambda: verifier([hs_key()]).verify(assemble(header, payload, signature)))
        == "bad_signature"
    )


# -- size and shape ------------------------------------------------------------------------------


def test_an_oversized_token_is_refused_before_it_is_parsed() -> None:
    token = hs_token(claims(padding="x" * 9000))
    v = verifier([hs_key()])
    assert reason_of(lambda: v.verify(token)) == "token_too_large"
    assert reason_of(lambda: v.verify_header("Bearer " + "!" * 1_000_000)) == "token_too_large"


def test_the_size_limit_is_a_setting() -> None:
    token = hs_token(claims())
    assert (
        reason_of(lambda: verifier([hs_key()], max_token_bytes=len(token) - 1).verify(token))
        == "token_too_large"
    )
    assert verifier([hs_key()], max_token_bytes=len(token)).verify(token).user == "alice"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Bearer", "malformed_header"),
        ("Bearer    ", "malformed_header"),
        ("Basic YWxpY2U6cGFzcw==", "malformed_header"),
        ("Bearer abc", "malformed_token"),
        ("Bearer a.b.c", "malformed_token"),
        ("Bearer ..", "malformed_token"),
    ],
)
def test_malformed_headers_and_tokens_are_refused(header: str | None, reason: str) -> None:
    assert reason_of(lambda: verifier([hs_key()]).verify_header(header)) == reason


def test_a_payload_that_is_not_an_object_is_malformed() -> None:
    header = b64(json.dumps({"alg": "HS256", "kid": "hs"}).encode())
    signing_input = f"{header}.{b64(b'[1,2]')}"
    mac = hmac.new(hs_key().signing_key, signing_input.encode(), hashlib.sha256).digest()  # type: ignore[arg-type]
    assert reason_of(lambda: verifier([hs_key()]).verify(f"{signing_input}.{b64(mac)}")) == "malformed_token"


# -- garbage --------------------------------------------------------------------------------------

B64 = string.ascii_letters + string.digits + "-_"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), st.text(alphabet=B64 + ".", max_size=300)))
def test_garbage_is_always_refused_with_a_known_reason(text: str) -> None:
    reason_of(lambda: verifier([hs_key(), rs_public_key()]).verify_header(f"Bearer {text}"))


@settings(max_examples=200, deadline=None)
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "kid", "typ", "crit", "jku"]),
        st.one_of(
            st.none(), st.integers(), st.text(max_size=10), st.sampled_from(["HS256", "RS256", "none"])
        ),
    ),
    payload=st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.integers(), st.text(max_size=8))),
    signature=st.text(alphabet=B64, max_size=90),
)
def test_structured_garbage_never_verifies(
    header: dict[str, object], payload: dict[str, object], signature: str
) -> None:
    reason_of(lambda: verifier([hs_key(), rs_public_key()]).verify(assemble(header, payload, signature)))


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_changing_any_payload_character_breaks_the_token(data: st.DataObject) -> None:
    token = hs_token(claims())
    head, payload, signature = token.split(".")
    i = data.draw(st.integers(0, len(payload) - 2), label="position")  # the last char may carry padding bits
    new = data.draw(st.sampled_from(B64).filter(lambda c: c != payload[i]), label="character")
    forged = f"{head}.{payload[:i]}{new}{payload[i + 1 :]}.{signature}"
    assert reason_of(lambda: verifier([hs_key()]).verify(forged)) in ("bad_signature", "malformed_token")


# -- the verified-token cache ---------------------------------------------------------------------


def counting_decode(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = jwt.decode

    def decode(*args: object, **kwargs: object) -> object:
        calls[0] += 1
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", decode)
    return calls


def test_a_token_seen_before_skips_the_signature_check_but_never_the_time_checks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = counting_decode(monkeypatch)
    clock = Clock(NOW)
    v = verifier([hs_key()], clock)
    token = hs_token(claims(nbf=int(NOW)))
    assert v.verify(token) == v.verify(token)
    assert calls == [1]
    clock.now = NOW + 600
    assert reason_of(lambda: v.verify(token)) == "expired"
    clock.now = NOW - 1
    assert reason_of(lambda: v.verify(token)) == "not_yet_valid"


def test_the_cache_is_bounded_and_can_be_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_decode(monkeypatch)
    v = verifier([hs_key()], cache_size=2)
    tokens = [hs_token(claims(sub=f"u{i}")) for i in range(3)]
    for token in [*tokens, tokens[2], tokens[1], tokens[0]]:
        v.verify(token)
    assert calls == [4]  # u0 was forgotten when u2 arrived; u2 and u1 were remembered
    off = verifier([hs_key()], cache_size=0)
    off.verify(tokens[0])
    off.verify(tokens[0])
    assert calls == [6]


def test_a_refused_token_is_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = counting_decode(monkeypatch)
    v = verifier([hs_key()])
    token = hs_token(claims(iss="evil"))
    for _ in range(2):
        assert reason_of(lambda: v.verify(token)) == "wrong_issuer"
    assert calls == [2]

"""The gateway with auth on, over real stdio fault servers: the security suite over HTTP, the role
matrix, metrics against the calls table, rate limits, the audit endpoint, the cache, agent mode."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import jwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from harness.agent import SCRIPTS, ScriptedAgent
from harness.auth import (
    AuditLog,
    AuthSettings,
    Policy,
    PolicyAuthorizer,
    Principal,
    TokenMinter,
    current_principal,
    load_key,
    query_audit,
)
from harness.auth.keys import generate_rsa_private_pem, public_pem
from harness.connection import StdioTarget
from harness.errors import ConfigError, ToolCallError
from harness.manager import ResilientMCPManager, ServerSpec
from tests.integration.harness.auth_helpers import (
    KINDS,
    SEED,
    bearer,
    environ,
    gateway,
    minter,
    read_rows,
    server_command,
    session_calling,
)
from tests.unit.harness.auth.test_policy import EXPECTED

pytestmark = pytest.mark.integration

ROLES = sorted(EXPECTED)


def b64(data: bytes) -> str:
    return jwt.utils.base64url_encode(data).decode()


def families(exposition: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(exposition)}


def samples(family: Any, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    """``name``'s samples keyed by the values of ``labels``, in that order."""
    return {tuple(s.labels[k] for k in labels): s.value for s in family.samples if s.name == name}


def bad_tokens(tmp_path: Path, rsa_private: bytes) -> dict[str, tuple[str | None, str]]:
    """Case name -> (Authorization header, expected reason)."""
    good = minter()
    key = good.key
    now_claims = jwt.decode(good.for_session("user", "s1"), options={"verify_signature": False})
    tampered_head, _, tampered_sig = good.for_session("guest", "s1").split(".")
    forged_claims = {**now_claims, "roles": ["admin"]}
    header = {"alg": "HS256", "typ": "JWT", "kid": "rs256"}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(forged_claims).encode())}"
    confusion = hmac.new(public_pem(rsa_private), signing_input.encode(), hashlib.sha256).digest()
    other_secret = load_key("hs256", "HS256", b"an-attacker-secret-that-is-long-enough-123", "test")
    no_org = {k: v for k, v in now_claims.items() if k != "org_id"}
    none_header = b64(json.dumps({"alg": "none"}).encode())
    return {
        "missing": (None, "missing_token"),
        "basic": ("Basic dXNlcjpwYXNz", "malformed_header"),
        "expired": (f"Bearer {good.mint(user='u', roles=['user'], session_id='s1', ttl_s=-5)}", "expired"),
        "not_yet_valid": (
            f"Bearer {good.mint(user='u', roles=['user'], session_id='s1', not_before_s=3600)}",
            "not_yet_valid",
        ),
        "wrong_issuer": (
            f"Bearer {TokenMinter(key, issuer='evil').for_session('user', 's1')}",
            "wrong_issuer",
        ),
        "wrong_audience": (
            f"Bearer {TokenMinter(key, audience='elsewhere').for_session('user', 's1')}",
            "wrong_audience",
        ),
        "wrong_key": (f"Bearer {TokenMinter(other_secret).for_session('admin', 's1')}", "bad_signature"),
        "alg_none": (
            f"Bearer {none_header}.{b64(json.dumps(forged_claims).encode())}.",
            "algorithm_not_allowed",
        ),
        "hs256_with_rs256_public_key": (f"Bearer {signing_input}.{b64(confusion)}", "algorithm_not_allowed"),
        "tampered": (
            f"Bearer {tampered_head}.{b64(json.dumps(forged_claims).encode())}.{tampered_sig}",
            "bad_signature",
        ),
        "missing_claim": (
            f"Bearer {jwt.encode(no_org, key.signing_key, algorithm='HS256', headers={'kid': 'hs256'})}",  # type: ignore[arg-type]
            "missing_claim",
        ),
        "oversized": (
            f"Bearer {good.mint(user='u', roles=['user'], session_id='s1', extra={'pad': 'x' * 9000})}",
            "token_too_large",
        ),
        "garbage": ("Bearer !!not-a-jwt!!", "malformed_token"),
    }


def test_every_bad_token_is_refused_with_401_its_reason_and_an_audit_line(tmp_path: Path) -> None:
    rsa_private = generate_rsa_private_pem()
    public = tmp_path / "public.pem"
    public.write_bytes(public_pem(rsa_private))
    cases = bad_tokens(tmp_path, rsa_private)
    env = environ(CHAOSBENCH_JWT_PUBLIC_KEY_FILE=str(public))
    with gateway(tmp_path, kinds=("weather",), env=env) as client:
        for name, (header, reason) in cases.items():
            headers = {"X-Request-ID": name} | ({"Authorization": header} if header else {})
            response = client.post("/v1/sessions/s1/messages", json={"turn": 0}, headers=headers)
            assert response.status_code == 401, name
            assert response.json()["reason"] == reason, name
            challenge = response.headers["www-authenticate"]
            assert challenge.startswith('Bearer realm="chaosbench"'), name
            assert (f'error_description="{reason}"' in challenge) == (reason != "missing_token"), name
        ok = client.post(
            "/v1/sessions/s1/messages", json={"turn": 0}, headers=bearer(minter().for_session("user", "s1"))
        )
        assert ok.status_code == 200
        exposition = client.get("/metrics").text
    audited = {r["request_id"]: r for r in query_audit(tmp_path / "audit.jsonl", event="authn_failure")}
    assert {name: audited[name]["reason"] for name in cases} == {n: r for n, (_, r) in cases.items()}
    assert audited["expired"]["claimed_user"] == "u" and audited["missing"]["claimed_user"] == ""
    assert not read_rows(tmp_path / "events" / "calls.gateway.jsonl")[1:]  # only the good request's call
    metrics = families(exposition)
    failures = samples(metrics["auth_failures"], "auth_failures_total", "reason")
    assert {r: failures[(r,)] for _, r in cases.values()} == Counter(r for _, r in cases.values())
    assert samples(metrics["auth_authentications"], "auth_authentications_total", "result") == {
        ("success",): 1,
        ("failure",): len(cases),
    }
    assert samples(metrics["agent_requests"], "agent_requests_total", "status") == {
        ("401",): len(cases),
        ("200",): 1,
    }


def test_hypothesis_garbage_over_http_is_always_401_and_audited(tmp_path: Path) -> None:
    sent: list[str] = []
    with gateway(tmp_path, kinds=("weather",)) as client:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=200))
        def check(text: str) -> None:
            request_id = f"garbage-{len(sent)}"
            sent.append(request_id)
            response = client.post(
                "/v1/sessions/s1/messages",
                json={"turn": 0},
                headers=bearer(text) | {"X-Request-ID": request_id},
            )
            assert response.status_code == 401
            assert response.json()["reason"] in (
                "malformed_token",
                "malformed_header",
                "algorithm_not_allowed",
            )

        check()
    assert read_rows(tmp_path / "events" / "calls.gateway.jsonl") == []
    audited = {
        r["request_id"]: r["reason"] for r in query_audit(tmp_path / "audit.jsonl", event="authn_failure")
    }
    assert sent and set(audited) == set(sent)


def test_a_token_for_another_session_is_forbidden(tmp_path: Path) -> None:
    with gateway(tmp_path, kinds=("weather",)) as client:
        token = minter().for_session("admin", "mine")
        response = client.post("/v1/sessions/theirs/messages", json={"turn": 0}, headers=bearer(token))
    assert response.status_code == 403 and response.json()["reason"] == "session_mismatch"
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    [deny] = query_audit(tmp_path / "audit.jsonl", event="deny")
    assert deny["user"] == "admin:mine" and "session_mismatch" in deny["reason"]


def play_role_matrix(tmp_path: Path) -> tuple[dict[tuple[str, str, str], int], str]:
    """Every role against every scripted tool; returns (role, server, tool) -> status, and /metrics."""
    targets = [(kind, tool) for kind in KINDS for tool in sorted({t for t, _ in SCRIPTS[kind]})]
    sessions = {target: session_calling(*target) for target in targets}
    statuses: dict[tuple[str, str, str], int] = {}
    with gateway(tmp_path) as client:
        for role in ROLES:
            for server, tool in targets:
                session = sessions[(server, tool)]
                response = client.post(
                    f"/v1/sessions/{session}/messages",
                    json={"turn": 0},
                    headers=bearer(minter().for_session(role, session)) | {"X-Request-ID": f"{role}-{tool}"},
                )
                statuses[(role, server, tool)] = response.status_code
                [call] = response.json()["tool_calls"]
                assert (call["server"], call["tool"]) == (server, tool)
                assert call["outcome"] == ("ok" if response.status_code == 200 else "denied"), (role, tool)
        exposition = client.get("/metrics").text
    return statuses, exposition


def test_each_role_reaches_exactly_its_tools_and_denied_calls_never_reach_a_server(tmp_path: Path) -> None:
    statuses, _ = play_role_matrix(tmp_path)
    for (role, server, tool), status in statuses.items():
        assert status == (200 if tool in EXPECTED[role][server] else 403), (role, server, tool)
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    by_request: dict[str, list[str]] = {}
    for row in rows:
        by_request.setdefault(row["request_id"], []).append(row["outcome"])
    for (role, _, tool), status in statuses.items():
        # a denied call is one `denied` row and nothing else: no attempt reached the breaker or the server
        assert by_request[f"{role}-{tool}"] == (["ok"] if status == 200 else ["denied"]), (role, tool)
    grants = query_audit(tmp_path / "audit.jsonl", event="grant", limit=10_000)
    denies = query_audit(tmp_path / "audit.jsonl", event="deny", limit=10_000)
    assert len(grants) == sum(s == 200 for s in statuses.values())
    assert len(denies) == sum(s == 403 for s in statuses.values())
    assert {d["permission"] for d in denies if d["user"].startswith("guest:")} >= {
        "files:read",
        "database:query",
    }


def test_metrics_parse_and_agree_with_the_calls_table_and_the_responses(tmp_path: Path) -> None:
    statuses, exposition = play_role_matrix(tmp_path)
    metrics = families(exposition)
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    tool_calls = samples(metrics["mcp_tool_calls"], "mcp_tool_calls_total", "server", "tool", "outcome")
    assert Counter({k: int(v) for k, v in tool_calls.items()}) == Counter(
        (r["server"], r["tool"], r["outcome"]) for r in rows
    )
    decisions = samples(metrics["authz_decisions"], "authz_decisions_total", "decision", "server", "tool")
    assert Counter({k: int(v) for k, v in decisions.items()}) == Counter(
        ("grant" if r["outcome"] == "ok" else "deny", r["server"], r["tool"]) for r in rows
    )
    requests = samples(metrics["agent_requests"], "agent_requests_total", "status")
    assert requests == {(str(s),): float(n) for s, n in Counter(statuses.values()).items()}
    for name in ("agent_request_duration_seconds", "active_agents_current", "mcp_server_health"):
        assert name in metrics
    assert samples(metrics["circuit_breaker_state"], "circuit_breaker_state", "server") == {
        (k,): 0.0 for k in KINDS
    }


async def test_the_manager_denies_every_tool_a_role_lacks_among_all_the_servers_offer(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    manager = ResilientMCPManager(
        [ServerSpec(k, StdioTarget(server_command(k)[0], tuple(server_command(k)[1:]))) for k in KINDS],
        authorizer=PolicyAuthorizer(Policy(), {k: k for k in KINDS}, audit),
    )
    try:
        with anyio.fail_after(120):
            assert await manager.start() == {}
            offered = {k: {t.name for t in await manager.list_tools(k)} for k in KINDS}
            assert offered["database"] >= {"query", "insert", "update"}
            for role in ROLES:
                reached: dict[str, set[str]] = {k: set() for k in KINDS}
                token = current_principal.set(Principal(role, (role,), "s", "o", "hs", 0.0))
                try:
                    for kind in KINDS:
                        for tool in sorted(offered[kind]):
                            try:
                                await manager.call_tool(kind, tool, {})
                            except ToolCallError as exc:
                                if exc.outcome == "denied":
                                    continue
                            reached[kind].add(tool)  # answered, or a tool_error for the empty arguments
                finally:
                    current_principal.reset(token)
                assert reached == EXPECTED[role], role
    finally:
        await manager.aclose()
        audit.close()


def test_a_user_over_the_rate_gets_429_with_retry_after_and_others_are_served(tmp_path: Path) -> None:
    limits = {"enabled": True, "rate_per_s": 0.01, "burst": 2}
    with gateway(tmp_path, kinds=("weather",), rate_limit=limits) as client:
        token = minter().for_session("user", "s1")
        codes = [
            client.post("/v1/sessions/s1/messages", json={"turn": i}, headers=bearer(token)).status_code
            for i in range(2)
        ]
        refused = client.post("/v1/sessions/s1/messages", json={"turn": 2}, headers=bearer(token))
        other = client.post(
            "/v1/sessions/s2/messages", json={"turn": 0}, headers=bearer(minter().for_session("user", "s2"))
        )
        exposition = client.get("/metrics").text
    assert codes == [200, 200] and other.status_code == 200
    assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 100
    assert refused.json()["retry_after_s"] > 0
    [event] = query_audit(tmp_path / "audit.jsonl", event="rate_limited")
    assert event["user"] == "user:s1"
    assert samples(families(exposition)["rate_limited"], "rate_limited_total") == {(): 1.0}


def test_without_auth_the_rate_limit_is_per_session(tmp_path: Path) -> None:
    limits = {"enabled": True, "rate_per_s": 0.01, "burst": 1}
    with gateway(tmp_path, kinds=("weather",), auth=False, rate_limit=limits) as client:
        codes = [client.post(f"/v1/sessions/{s}/messages", json={"turn": 0}).status_code for s in "aab"]
    assert codes == [200, 429, 200]


def test_admins_read_a_users_audit_trail_and_nobody_else_does(tmp_path: Path) -> None:
    with gateway(tmp_path, kinds=("weather",)) as client:
        client.post(
            "/v1/sessions/s1/messages", json={"turn": 0}, headers=bearer(minter().for_session("user", "s1"))
        )
        admin = bearer(minter().for_session("admin", "ops"))
        trail = client.get("/v1/audit", params={"user": "user:s1"}, headers=admin)
        as_user = client.get(
            "/v1/audit", params={"user": "user:s1"}, headers=bearer(minter().for_session("user", "x"))
        )
        anonymous = client.get("/v1/audit", params={"user": "user:s1"})
        bad_limit = client.get("/v1/audit", params={"limit": "lots"}, headers=admin)
    assert trail.status_code == 200
    events = [e["event"] for e in trail.json()["events"]]
    assert events[0] == "authn_success" and events.count("grant") == 1
    assert {e.get("user") for e in trail.json()["events"]} == {"user:s1"}
    assert as_user.status_code == 403 and as_user.json()["reason"] == "not_admin"
    assert anonymous.status_code == 401 and bad_limit.status_code == 400


def test_the_audit_endpoint_is_absent_without_auth(tmp_path: Path) -> None:
    with gateway(tmp_path, kinds=("weather",), auth=False) as client:
        assert client.get("/v1/audit", params={"user": "x"}).status_code == 404


def test_the_memory_cache_answers_a_repeated_turn_without_calling_the_server(tmp_path: Path) -> None:
    plan = ScriptedAgent(None, {"weather": "weather"}, seed=SEED, tool_calls_per_turn=3).plan("s1", 0)  # type: ignore[arg-type]
    distinct = {(tool, json.dumps(args, sort_keys=True)) for _, tool, args in plan}
    with gateway(
        tmp_path, kinds=("weather",), auth=False, calls_per_turn=3, cache={"enabled": True}
    ) as client:
        first = client.post("/v1/sessions/s1/messages", json={"turn": 0})
        again = client.post("/v1/sessions/s1/messages", json={"turn": 0})
        exposition = client.get("/metrics").text
    assert first.status_code == again.status_code == 200
    assert [c["tool"] for c in again.json()["tool_calls"]] == [tool for _, tool, _ in plan]
    rows = read_rows(tmp_path / "events" / "calls.gateway.jsonl")
    # one call per distinct (tool, arguments), all in the first turn; the repeated turn made none
    assert len(rows) == len(distinct)
    assert {r["request_id"] for r in rows} == {first.json()["request_id"]}
    cache = samples(
        families(exposition)["mcp_cache_requests"], "mcp_cache_requests_total", "server", "tool", "result"
    )
    assert sum(v for k, v in cache.items() if k[2] == "hit") == 2 * len(plan) - len(distinct)
    assert sum(v for k, v in cache.items() if k[2] == "stored") == len(distinct)


def test_agent_mode_authorizes_the_langchain_tool_calls(tmp_path: Path) -> None:
    kinds = ("weather", "filesystem")
    readable = session_calling("filesystem", "read_file", kinds)
    weather = session_calling("weather", "get_forecast", kinds)
    with gateway(tmp_path, kinds=kinds, mode="agent") as client:
        assert client.get("/ready").json() == {"ready": True}
        denied = client.post(
            f"/v1/sessions/{readable}/messages",
            json={"turn": 0},
            headers=bearer(minter().for_session("guest", readable)),
        )
        allowed = client.post(
            f"/v1/sessions/{weather}/messages",
            json={"turn": 0},
            headers=bearer(minter().for_session("guest", weather)),
        )
    assert denied.status_code == 403 and denied.json()["outcome"] == "denied"
    assert allowed.status_code == 200
    outcomes = Counter(r["outcome"] for r in read_rows(tmp_path / "events" / "calls.gateway.jsonl"))
    assert outcomes == {"denied": 1, "ok": 1}


def test_health_reports_resources_and_protections(tmp_path: Path) -> None:
    with gateway(tmp_path, kinds=("weather",), rate_limit={"enabled": True}) as client:
        health = client.get("/health").json()
    assert health["status"] in ("healthy", "degraded")  # degraded only if the machine is out of memory
    assert health["servers"]["weather"]["status"] == "healthy"
    assert health["system"]["rss_bytes"] > 0 and health["checks"] == {"audit": "ok"}
    assert health["protections"]["auth"] is True and health["protections"]["rate_limit"] is True


def test_auth_enabled_without_a_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no JWT key"):
        gateway(tmp_path, kinds=("weather",), env={})


def test_auth_settings_round_trip_through_the_gateway_config() -> None:
    assert AuthSettings.model_validate(AuthSettings(enabled=True).model_dump(mode="json")).enabled

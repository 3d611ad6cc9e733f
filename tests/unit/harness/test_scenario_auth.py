"""Scenario schema for auth runs: token kinds, session-type SLA filters, the rejections SLA, and what the children get."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.auth.settings import TOKEN_KINDS, AuthSettings
from harness.errors import ScenarioError
from harness.gateway.config import GatewayConfig
from harness.loadsettings import LocustSettings
from harness.orchestrator.commands import gateway_config
from harness.orchestrator.loadgen import locust_settings
from harness.orchestrator.rundir import RunDir
from harness.scenario import RejectionsSla, Scenario, parse_scenario

REPO = Path(__file__).resolve().parents[3]


def _data(sessions: list[dict[str, Any]], slas: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "auth",
        "system": {"servers": {"weather": {}}, "auth": {"enabled": True}},
        "load": {"users": 2, "duration_s": 3, "sessions": sessions},
        "slas": slas,
    }


SESSIONS = [{"name": "ok", "role": "guest"}, {"name": "bad", "token": "wrong_key"}]


def test_every_token_kind_is_accepted_and_valid_is_the_default() -> None:
    sc = parse_scenario(_data([{"name": k, "token": k} for k in TOKEN_KINDS] + [{"name": "d"}], []), "s.yaml")
    assert [s.token for s in sc.load.sessions] == [*TOKEN_KINDS, "valid"]


def test_an_unknown_token_kind_names_the_session_and_the_kinds() -> None:
    with pytest.raises(ScenarioError, match=r"s\.yaml: load\.sessions\[0\]\.token: .*'wrong_key'"):
        parse_scenario(_data([{"name": "x", "token": "forged"}], []), "s.yaml")


def test_rejections_need_exactly_one_bound_and_http_statuses() -> None:
    for bad, why in [
        ({}, "give exactly one of min_ratio"),
        ({"min_ratio": 1, "max_ratio": 0}, "give exactly one of min_ratio"),
        ({"min_ratio": 1, "statuses": [42]}, "statuses: 42 is not an HTTP status"),
    ]:
        sla = {"name": "r", "kind": "rejections", **bad}
        with pytest.raises(ScenarioError, match=rf"s\.yaml: slas\[0\]: {why}"):
            parse_scenario(_data(SESSIONS, [sla]), "s.yaml")
    sc = parse_scenario(_data(SESSIONS, [{"name": "r", "kind": "rejections", "max_ratio": 0}]), "s.yaml")
    assert sc.slas[0] == RejectionsSla(name="r", kind="rejections", max_ratio=0.0)
    assert sc.slas[0].statuses == [401, 403]


def test_a_session_type_filter_must_name_session_types_of_the_mix() -> None:
    slas = [
        {"name": "p", "kind": "latency", "percentile": 95, "max_s": 1, "session_type": ["ok", "ghost"]},
        {"name": "r", "kind": "rejections", "session_type": "bad", "min_ratio": 1},
    ]
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(_data(SESSIONS, slas), "s.yaml")
    assert (
        str(caught.value)
        == "s.yaml: slas[0].session_type: unknown session type 'ghost'; expected one of ok, bad"
    )


def test_the_scenario_module_stays_small_and_still_exports_the_sla_models() -> None:
    from harness import scenario

    assert len((REPO / "harness" / "scenario.py").read_text().splitlines()) < 600
    assert {"LatencySla", "RejectionsSla", "SessionType", "LoadConfig"} <= set(scenario.__all__)


def test_the_gateway_config_and_locust_settings_carry_the_auth_settings_but_no_secret(tmp_path: Path) -> None:
    sc: Scenario = parse_scenario(_data(SESSIONS, []), "s.yaml")
    config = gateway_config(sc, RunDir(tmp_path), {"weather": 1234}, run_start=None)
    assert GatewayConfig.model_validate(config).auth == sc.system.auth
    settings = locust_settings(sc, events_dir="/e", runtime_dir="/r", csv_prefix="/c", workers=0)
    assert LocustSettings.model_validate(settings).auth == AuthSettings(enabled=True)
    text = json.dumps([config, settings])
    assert "SECRET" not in text and "PRIVATE" not in text

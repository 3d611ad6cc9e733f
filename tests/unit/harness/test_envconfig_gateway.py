"""The gateway's switches (RATE_LIMITING, CACHE_ENABLED) and process environment (keys, REDIS_URL, logs)."""

from __future__ import annotations

import pytest

from harness.envconfig import env_overrides, gateway_environment
from harness.errors import ScenarioError
from harness.gateway.server import apply_environment, default_config


def test_the_switches_turn_rate_limiting_and_the_cache_on_and_off() -> None:
    config = apply_environment(default_config(), {"RATE_LIMITING": "on", "CACHE_ENABLED": "true"})
    assert config.rate_limit.enabled and config.cache.enabled
    off = apply_environment(config, {"RATE_LIMITING": "0", "CACHE_ENABLED": "disabled"})
    assert not off.rate_limit.enabled and not off.cache.enabled


def test_the_switches_become_scenario_overrides() -> None:
    result = env_overrides({"RATE_LIMITING": "yes"}, {"system": {"servers": {"weather": {}}}})
    assert result.overrides == ["system.rate_limit.enabled=true"]


def test_a_bad_switch_value_names_the_variable() -> None:
    with pytest.raises(ScenarioError, match="CACHE_ENABLED='maybe'"):
        env_overrides({"CACHE_ENABLED": "maybe"}, {})


def test_the_process_environment_is_read_in_one_place() -> None:
    env = gateway_environment(
        {
            "CHAOSBENCH_JWT_SECRET": " spaces are part of a secret ",
            "CHAOSBENCH_JWT_PUBLIC_KEY_FILE": "/keys/pub.pem",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "ENVIRONMENT": "staging",
            "LOG_FORMAT": "JSON",
            "LOG_LEVEL": "info",
        }
    )
    assert env.jwt_secret == " spaces are part of a secret "
    assert env.jwt_public_key_file == "/keys/pub.pem" and env.jwt_secret_file is None
    assert env.redis_url == "redis://127.0.0.1:6379/0"
    assert (env.environment, env.log_format, env.log_level) == ("staging", "json", "INFO")
    assert gateway_environment({"CHAOSBENCH_ENVIRONMENT": "ci", "ENVIRONMENT": "x"}).environment == "ci"
    assert gateway_environment({}).environment == "local"


@pytest.mark.parametrize(("name", "value"), [("LOG_FORMAT", "xml"), ("LOG_LEVEL", "loud")])
def test_bad_log_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ScenarioError, match=name):
        gateway_environment({name: value})

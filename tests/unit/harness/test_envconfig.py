"""The seeds' environment variables: mapping, parsing, precedence, and the per-server derivation."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.envconfig import env_overrides
from harness.errors import ScenarioError
from harness.gateway.config import server_manager_config
from harness.gateway.server import apply_environment, default_config
from harness.resilience import BreakerConfig, SlidingWindowConfig
from harness.scenario import BreakerSettings, ManagerSettings, ServerTuning, load_scenario

SCENARIO = {
    "name": "env",
    "system": {"servers": {"weather": {}}},
    "load": {"users": 1, "duration_s": 1},
}


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_each_seed_variable_maps_to_its_scenario_key() -> None:
    env = {
        "WEATHER_SERVER_TIMEOUT": "3",
        "WEATHER_SERVER_RETRIES": "2",
        "CONNECTION_POOL_SIZE": "4",
        "REQUEST_TIMEOUT": "7.5",
        "CIRCUIT_BREAKER": "off",
        "AGENT_TIMEOUT": "20",
        "AGENT_RETRY_ATTEMPTS": "1",
    }
    result = env_overrides(env, SCENARIO)
    assert sorted(result.overrides) == sorted(
        [
            "system.servers.weather.timeout_s=3.0",
            "system.servers.weather.retries=2",
            "system.manager.pool.size=4",
            "system.manager.call_timeout_s=7.5",
            "system.manager.breaker.enabled=false",
            "system.agent.turn_timeout_s=20.0",
            "system.agent.retry_attempts=1",
        ]
    )


def test_variables_for_servers_the_scenario_lacks_are_ignored_and_reported() -> None:
    result = env_overrides({"FS_SERVER_TIMEOUT": "3", "DB_SERVER_RETRIES": "1"}, SCENARIO)
    assert result.overrides == []
    assert set(result.ignored) == {"FS_SERVER_TIMEOUT", "DB_SERVER_RETRIES"}


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("REQUEST_TIMEOUT", "soon", "a positive number of seconds"),
        ("REQUEST_TIMEOUT", "-1", "a positive number of seconds"),
        ("WEATHER_SERVER_RETRIES", "2.5", "a whole number"),
        ("CIRCUIT_BREAKER", "maybe", "true/false"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, expected: str) -> None:
    with pytest.raises(ScenarioError, match=rf"{name}=.*{expected}"):
        env_overrides({name: value}, SCENARIO)


def test_the_environment_sits_between_the_file_and_set(tmp_path: Path) -> None:
    data = {**SCENARIO, "system": {"servers": {"weather": {}}, "manager": {"call_timeout_s": 1.0}}}
    path = write(tmp_path, data)
    assert load_scenario(path).system.manager.call_timeout_s == 1.0
    assert load_scenario(path, environ={"REQUEST_TIMEOUT": "2"}).system.manager.call_timeout_s == 2.0
    overridden = load_scenario(path, ["system.manager.call_timeout_s=3"], environ={"REQUEST_TIMEOUT": "2"})
    assert overridden.system.manager.call_timeout_s == 3.0


def test_the_standalone_gateway_honours_the_variables_too() -> None:
    config = apply_environment(default_config(), {"WEATHER_SERVER_RETRIES": "3", "CIRCUIT_BREAKER": "false"})
    assert config.servers["weather"].retries == 3
    assert config.manager.breaker.enabled is False


def test_a_servers_breaker_is_derived_from_its_timeout_and_retries_as_the_seeds_do() -> None:
    config = server_manager_config(ManagerSettings(), ServerTuning(timeout_s=10.0, retries=3))
    assert config.call_timeout_s == 10.0
    assert config.retry.max_attempts == 4
    assert isinstance(config.breaker, BreakerConfig)
    assert (config.breaker.failure_threshold, config.breaker.recovery_timeout_s) == (5, 20.0)


def test_an_explicit_server_breaker_wins_over_the_derivation() -> None:
    tuning = ServerTuning(timeout_s=10.0, retries=3, breaker=BreakerSettings(failure_threshold=9))
    config = server_manager_config(ManagerSettings(), tuning)
    assert isinstance(config.breaker, BreakerConfig)
    assert config.breaker.failure_threshold == 9 and config.breaker.recovery_timeout_s == 10.0


def test_a_sliding_window_breaker_only_gets_the_derived_recovery_timeout() -> None:
    manager = ManagerSettings(
        breaker=BreakerSettings(policy="sliding_window", window_size=10, minimum_number_of_calls=5)
    )
    config = server_manager_config(manager, ServerTuning(timeout_s=4.0))
    assert isinstance(config.breaker, SlidingWindowConfig)
    assert config.breaker.recovery_timeout_s == 8.0 and config.breaker.window_size == 10


def test_a_server_without_tuning_uses_the_managers_settings() -> None:
    manager = ManagerSettings(call_timeout_s=2.0)
    config = server_manager_config(manager, ServerTuning(pool_size=3))
    assert config.call_timeout_s == 2.0 and config.pool.size == 3
    assert isinstance(config.breaker, BreakerConfig) and config.breaker.failure_threshold == 5

"""``chaosbench run`` with the load models: stages and the open model, end to end."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_run import assert_no_leaks, chaosbench, load_table, run_dir_of, scenario

pytestmark = pytest.mark.e2e


def issued_total(run: Path) -> int:
    return sum(json.loads(p.read_text())["issued"] for p in (run / "runtime").glob("issued.*.json"))


def test_a_stages_run_plays_each_stage_and_every_issued_request_is_in_the_table(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        load={
            "spawn_rate": 20,
            "stages": [{"duration_s": 4, "users": 2}, {"duration_s": 4, "users": 5}],
            "think_time_s": {"min": 0.1, "max": 0.2},
            "sessions": [
                {"name": "chat", "weight": 1, "turns": {"min": 2, "max": 3}},
                {
                    "name": "ops",
                    "weight": 1,
                    "role": "admin",
                    "turns": {"min": 2, "max": 2},
                    "servers": ["weather"],
                },
            ],
        },
    )
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = run_dir_of(out)
    requests = load_table(run, "requests")
    assert {"session_type", "role", "turn", "drop_reason"} <= set(requests.columns)
    assert set(requests["session_type"]) == {"chat", "ops"}
    assert set(requests.loc[requests["session_type"] == "ops", "role"]) == {"admin"}
    assert len(requests) == issued_total(run) > 20
    samples = load_table(run, "samples")
    local = samples[samples["process"] == "locust-local"]
    for stage, target in ((0, 2), (1, 5)):
        in_stage = local[local["stage"] == stage]
        assert set(in_stage["target_users"]) == {target}
        assert target in set(in_stage["locust_users"])
    assert_no_leaks(run, str(tmp_path))


def test_an_open_model_run_records_the_arrivals_it_could_not_start(tmp_path: Path) -> None:
    path = scenario(
        tmp_path,
        load={
            "model": "open",
            "duration_s": 4,
            "open": {"arrival_rate_per_s": 15, "max_sessions": 2, "arrivals": "poisson"},
            "think_time_s": {"min": 0.2, "max": 0.3},
            "sessions": [{"turns": {"min": 2, "max": 2}}],
        },
        slas=[],
    )
    out = tmp_path / "runs"
    done = subprocess.run(
        chaosbench("run", str(path), "--out", str(out)), capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stdout + done.stderr
    run = run_dir_of(out)
    requests = load_table(run, "requests")
    not_started = requests[requests["drop_reason"] == "not_started"]
    assert len(not_started) > 0 and set(not_started["outcome"]) == {"dropped"}
    assert (requests["t_intended"] <= requests["t_start"]).all()
    assert len(requests) == issued_total(run)
    assert_no_leaks(run, str(tmp_path))

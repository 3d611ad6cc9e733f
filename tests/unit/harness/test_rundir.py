"""The run directory's ``run.json``: what it records about how a run was played."""

from __future__ import annotations

import json
from pathlib import Path

from harness.orchestrator.rundir import RunRecord, create_run_dir
from harness.scenario import parse_scenario

SCENARIO = {
    "version": 1,
    "name": "tuning",
    "seed": 1,
    "system": {"servers": {"weather": {}}},
    "load": {"users": 2, "duration_s": 1},
    "profiles": {"pool_4": {"system.manager.pool.size": 4}},
}


def test_run_json_records_the_profile_the_run_was_played_with(tmp_path: Path) -> None:
    scenario = parse_scenario({**SCENARIO, "profile": "pool_4"}, "tuning.yaml")
    run, run_id = create_run_dir(tmp_path, scenario, now=1_700_000_000.0)

    run.write_run_record(RunRecord(run_id=run_id, scenario=scenario.name, profile=scenario.profile))

    info = json.loads((run.path / "run.json").read_text())
    assert (info["run_id"], info["scenario"], info["profile"]) == (
        "20231114-221320-tuning",
        "tuning",
        "pool_4",
    )


def test_run_json_says_null_when_no_profile_was_asked_for(tmp_path: Path) -> None:
    scenario = parse_scenario(dict(SCENARIO), "tuning.yaml")
    run, run_id = create_run_dir(tmp_path, scenario, now=1_700_000_000.0)

    run.write_run_record(RunRecord(run_id=run_id, scenario=scenario.name, profile=scenario.profile))

    assert json.loads((run.path / "run.json").read_text())["profile"] is None

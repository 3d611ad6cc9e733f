"""``chaosbench run scenarios/auth_abuse.yaml``, shortened, against real processes on 127.0.0.1.

Forged sessions are all refused with 401 for the reason their forgery names and audited;
under-privileged ones get 403 and their calls are ``denied`` rows that never reached a
server; valid ones pass; and the gateway's last ``/metrics`` (``metrics/final.prom``)
agrees with the ``calls`` table. Once with the default HS256 secret in one Locust
process, once with an RS256 key pair and two Locust workers.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.auth.session_tokens import EXPECTED_REASONS

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
SCENARIO = REPO / "scenarios" / "auth_abuse.yaml"
VALID = {"guest_weather", "editor_all", "admin_db"}
UNDER_PRIVILEGED = "guest_on_files"


def _table(run: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(run / "events" / f"{name}.parquet")


@pytest.mark.parametrize(("algorithm", "workers"), [("HS256", 0), ("RS256", 2)])
def test_auth_abuse_refuses_every_forgery_denies_the_under_privileged_and_serves_the_valid(
    tmp_path: Path, algorithm: str, workers: int
) -> None:
    out = tmp_path / "runs"
    argv = [sys.executable, "-m", "harness.cli", "run", str(SCENARIO), "--out", str(out)]
    argv += ["--set", "load.duration_s=8", "--set", "load.users=24", "--set", "load.warmup_s=1"]
    argv += ["--set", f"system.auth.run_key_algorithm={algorithm}", "--workers", str(workers)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = [p for p in out.iterdir() if p.is_dir()]
    summary = json.loads((run / "report" / "summary.json").read_text())
    assert summary["verdict"] == "pass"
    assert {s["kind"] for s in summary["slas"]} >= {"latency", "rejections"}

    sessions = {s["name"]: s for s in yaml.safe_load((run / "scenario.yaml").read_text())["load"]["sessions"]}
    requests = _table(run, "requests")
    answered = requests[requests["outcome"] != "dropped"]
    by_type = {name: group for name, group in answered.groupby("session_type")}
    forged = {name for name, s in sessions.items() if s["token"] != "valid"}
    assert forged and forged <= set(by_type), f"some forged types sent nothing: {forged - set(by_type)}"
    for name in forged:
        assert set(by_type[name]["status"]) == {401}, name
    assert set(by_type[UNDER_PRIVILEGED]["status"]) == {403}
    for name in VALID:
        assert set(by_type[name]["status"]) == {200}, name

    # Audited: one authn_failure per refused request, for the reason the forgery names.
    audit = [json.loads(line) for line in (run / "audit" / "audit.jsonl").read_text().splitlines()]
    failures = Counter(e["reason"] for e in audit if e["event"] == "authn_failure")
    expected: Counter[str] = Counter()
    upper: Counter[str] = Counter()
    for name in forged:
        reason = EXPECTED_REASONS[sessions[name]["token"]]
        expected[reason] += len(by_type[name])
        upper[reason] += int((requests["session_type"] == name).sum())  # + requests cut short
    assert set(failures) == set(expected)
    for reason, count in expected.items():
        assert count <= failures[reason] <= upper[reason], (reason, failures[reason], count)
    claimed = {e.get("claimed_user") for e in audit if e["event"] == "authn_failure"}
    tampered = by_type["tampered"]["session_id"].iloc[0]
    assert f"guest:{tampered}" in claimed  # the forger's own claim, not the admin it asked to be

    # Denied calls: only the under-privileged sessions', never past the manager, each audited.
    calls = _table(run, "calls")
    denied = calls[calls["outcome"] == "denied"]
    session_type = requests.drop_duplicates("session_id").set_index("session_id")["session_type"]
    assert len(denied) >= len(by_type[UNDER_PRIVILEGED])
    assert set(session_type.reindex(denied["session_id"])) == {UNDER_PRIVILEGED}
    under_calls = calls[calls["session_id"].map(session_type) == UNDER_PRIVILEGED]
    assert set(under_calls["outcome"]) == {"denied"}  # no call of theirs reached a server
    assert not set(calls["session_id"].map(session_type)) & forged  # forged sessions made no calls
    assert sum(1 for e in audit if e["event"] == "deny") == len(denied)

    # The gateway's last /metrics agrees with the calls table, group by group.
    counters: Counter[tuple[str, str, str]] = Counter()
    text = (run / "metrics" / "final.prom").read_text()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mcp_tool_calls_total" and sample.value:
                labels = sample.labels
                counters[(labels["server"], labels["tool"], labels["outcome"])] += int(sample.value)
    table = Counter({k: int(n) for k, n in calls.groupby(["server", "tool", "outcome"]).size().items()})
    assert counters == table
    assert summary["final_metrics"]["agree"] is True

    # The report's table, and key material: RS256 pair 0600 in runtime/, HS256 in no file at all.
    assert "## Requests by session type" in (run / "report" / "report.md").read_text()
    rows = {r["session_type"]: r for r in summary["by_session_type"]}
    assert rows[UNDER_PRIVILEGED]["status_403"] > 0 and rows["wrong_key"]["status_401"] > 0
    pems = sorted(p.name for p in (run / "runtime").glob("*.pem"))
    if algorithm == "RS256":
        assert pems == ["jwt-rs256-private.pem", "jwt-rs256-public.pem"]
        assert all(stat.S_IMODE((run / "runtime" / p).stat().st_mode) == 0o600 for p in pems)
    else:
        assert pems == []
    for path in run.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".yaml", ".log", ".prom"}:
            assert "CHAOSBENCH_JWT_SECRET" not in path.read_text(errors="replace"), path

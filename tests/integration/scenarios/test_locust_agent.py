"""The Locust side of the load models, played by real Locust against a real gateway and server."""

from __future__ import annotations

from collections import defaultdict
from itertools import pairwise
from typing import Any

import pytest

from tests.integration.scenarios.conftest import LocustRun, Stack

pytestmark = pytest.mark.integration

THINK = {"min": 0.05, "max": 0.15}


def locust_rows(rows: list[dict[str, Any]], process: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["process"] == process]


def assert_issued_counts_match_the_request_files(run: LocustRun) -> None:
    requests = run.rows("requests")
    issued = run.issued()
    for source, rows in requests.items():
        assert issued[source] == len(rows), (source, issued[source], len(rows))
    assert {w for w, n in issued.items() if n} == set(requests)
    statuses = run.statuses()
    assert set(statuses) == set(issued)
    for worker, status in statuses.items():
        assert status["requests_total"] == issued[worker]  # the last status is written at quit


def assert_each_session_plays_consecutive_turns(rows: list[dict[str, Any]]) -> None:
    turns = defaultdict(list)
    for row in sorted(rows, key=lambda r: r["t_start"]):
        turns[row["session_id"]].append(row["turn"])
    for session, seen in turns.items():
        assert seen == list(range(len(seen))), (session, seen)


def test_a_stages_load_reaches_every_stage_target_and_records_every_request(stack: Stack) -> None:
    load = {
        "spawn_rate": 20,
        "stages": [
            {"duration_s": 4, "users": 2},
            {"duration_s": 5, "users": 6},
            {"duration_s": 4, "users": 3},
        ],
        "think_time_s": THINK,
        "sessions": [
            {"name": "chat", "weight": 2, "role": "user", "turns": {"min": 2, "max": 4}},
            {
                "name": "ops",
                "weight": 1,
                "role": "admin",
                "turns": {"min": 3, "max": 3},
                "servers": ["weather"],
            },
        ],
        "stop_timeout_s": 2,
    }
    run = stack.run_locust(load)
    assert run.exit_codes == {"local": 0}, run.logs
    samples = locust_rows(run.all_rows("samples"), "locust-local")
    for stage, target in enumerate((2, 6, 3)):
        in_stage = [r for r in samples if r["stage"] == stage]
        assert in_stage and {r["target_users"] for r in in_stage} == {target}
        assert target in {r["locust_users"] for r in in_stage}, (stage, in_stage)
        assert max(r["sessions_in_flight"] for r in in_stage) <= max(r["locust_users"] for r in in_stage)
    stages_seen = [r["stage"] for r in samples if r["stage"] >= 0]
    assert stages_seen == sorted(stages_seen)

    rows = run.all_rows("requests")
    assert len(rows) > 30
    assert all(r["t_intended"] == r["t_start"] for r in rows)  # closed model
    assert {r["session_type"] for r in rows} == {"chat", "ops"}
    assert {(r["session_type"], r["role"]) for r in rows} == {("chat", "user"), ("ops", "admin")}
    assert {r["drop_reason"] for r in rows} <= {"", "cut_short"}
    assert all(r["outcome"] == "ok" for r in rows if r["drop_reason"] == "")
    assert_each_session_plays_consecutive_turns(rows)
    finished = defaultdict(int)
    for r in rows:
        finished[r["session_id"]] = max(finished[r["session_id"]], r["turn"] + 1)
    assert max(finished.values()) <= 4  # no session plays more turns than its type allows
    assert_issued_counts_match_the_request_files(run)


def test_an_open_load_drops_arrivals_that_find_every_slot_busy(stack: Stack) -> None:
    load = {
        "model": "open",
        "duration_s": 5,
        "open": {"arrival_rate_per_s": 20, "max_sessions": 3, "arrivals": "constant"},
        "think_time_s": {"min": 0.2, "max": 0.3},
        "sessions": [{"turns": {"min": 2, "max": 3}}],
        "stop_timeout_s": 2,
    }
    run = stack.run_locust(load)
    assert run.exit_codes == {"local": 0}, run.logs
    rows = run.all_rows("requests")
    dropped = [r for r in rows if r["drop_reason"] == "not_started"]
    assert dropped, "3 slots cannot take 20 sessions/s of 2-3 turns with 0.2 s think times"
    assert all(
        (r["outcome"], r["turn"], r["latency_s"], r["status"]) == ("dropped", 0, 0.0, 0) for r in dropped
    )
    assert all(r["t_intended"] <= r["t_start"] for r in rows)

    # Every arrival is one turn-0 row (started, dropped, or cut short), at exactly 20/s.
    arrivals = sorted(r["t_intended"] for r in rows if r["turn"] == 0)
    assert len(arrivals) == 100
    assert all(abs((b - a) - 0.05) < 1e-6 for a, b in pairwise(arrivals))

    started = [r for r in rows if r["drop_reason"] != "not_started"]
    assert_each_session_plays_consecutive_turns(started)
    by_session = defaultdict(list)
    for r in started:
        by_session[r["session_id"]].append(r)
    for turns in by_session.values():
        turns.sort(key=lambda r: r["turn"])
        for before, after in pairwise(
            turns
        ):  # a later turn is intended a think time after the last one ended
            assert after["t_intended"] >= before["t_start"] + before["latency_s"] + 0.2 - 1e-3
    # Never more than max_sessions sessions in flight at once.
    spans = [
        (min(r["t_start"] for r in t), max(r["t_start"] + r["latency_s"] for r in t))
        for t in by_session.values()
    ]
    events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
    in_flight = peak = 0
    for _, step in events:
        in_flight += step
        peak = max(peak, in_flight)
    assert 1 <= peak <= 3

    samples = locust_rows(run.all_rows("samples"), "locust-local")
    assert {r["stage"] for r in samples} == {-1}
    assert max(r["locust_users"] for r in samples) == 3
    assert max(r["sessions_in_flight"] for r in samples) <= 3
    assert max(r["dropped_total"] for r in samples) >= len(dropped)
    assert_issued_counts_match_the_request_files(run)


def test_master_and_two_workers_play_the_stages_and_each_worker_counts_its_own_rows(stack: Stack) -> None:
    load = {
        "spawn_rate": 20,
        "stages": [{"duration_s": 5, "users": 4}, {"duration_s": 5, "users": 8}],
        "think_time_s": THINK,
        "sessions": [{"turns": {"min": 2, "max": 3}}],
        "stop_timeout_s": 2,
    }
    run = stack.run_locust(load, workers=2)
    assert run.exit_codes == {"master": 0, "w1": 0, "w2": 0}, run.logs
    requests = run.rows("requests")
    assert sorted(source.split("-")[0] for source in requests) == ["w1", "w2"]  # the master runs no users
    for source, rows in requests.items():
        worker = source.split("-")[0]
        assert rows and all(r["session_id"].startswith(f"{worker}-s") and r["worker"] == source for r in rows)
    issued = run.issued()
    assert [n for w, n in issued.items() if w.startswith("master")] == [0]
    assert_issued_counts_match_the_request_files(run)

    samples = run.all_rows("samples")
    master = locust_rows(samples, "locust-master")
    assert {r["target_users"] for r in master if r["stage"] >= 0} == {4, 8}
    assert all("locust_users" not in r for r in master)  # never counted twice
    by_second: dict[int, dict[str, int]] = defaultdict(dict)
    for r in samples:
        if r["process"] in ("locust-w1", "locust-w2"):
            by_second[int(r["t"])][r["process"]] = r["locust_users"]
    totals = {sum(v.values()) for v in by_second.values() if len(v) == 2}
    assert {4, 8} <= totals
    assert max(totals) == 8


def test_an_open_load_over_two_workers_splits_the_arrival_rate(stack: Stack) -> None:
    load = {
        "model": "open",
        "duration_s": 4,
        "open": {"arrival_rate_per_s": 10, "max_sessions": 4, "arrivals": "constant"},
        "think_time_s": THINK,
        "sessions": [{"turns": {"min": 1, "max": 2}}],
        "stop_timeout_s": 2,
    }
    run = stack.run_locust(load, workers=2)
    assert run.exit_codes == {"master": 0, "w1": 0, "w2": 0}, run.logs
    requests = run.rows("requests")
    assert len(requests) == 2
    for source, rows in requests.items():
        arrivals = sorted(r["t_intended"] for r in rows if r["turn"] == 0)
        assert len(arrivals) == 20, source  # 5/s each for 4 s
        assert all(abs((b - a) - 0.2) < 1e-6 for a, b in pairwise(arrivals))
        assert all(r["t_intended"] <= r["t_start"] for r in rows)
    assert_issued_counts_match_the_request_files(run)


def test_requests_cut_short_by_the_end_of_the_run_are_recorded_once(slow_stack: Stack) -> None:
    load = {
        "users": 3,
        "spawn_rate": 30,
        "duration_s": 3,
        "think_time_s": {"min": 0, "max": 0},
        "sessions": [{"turns": {"min": 5, "max": 5}}],
        "stop_timeout_s": 0.5,
    }
    run = slow_stack.run_locust(load)
    assert run.exit_codes == {"local": 0}, run.logs
    rows = run.all_rows("requests")
    cut = [r for r in rows if r["drop_reason"] == "cut_short"]
    # Turns take 2 s: the first ones end at about 2 s, the second ones are in flight at 3 s + 0.5 s.
    assert len(cut) == 3 and {r["turn"] for r in cut} == {1}
    assert all(r["outcome"] == "dropped" and r["status"] == 0 for r in cut)
    assert all(0.5 <= r["latency_s"] < 2.0 for r in cut)
    assert [r["outcome"] for r in rows if r["turn"] == 0] == ["ok"] * 3
    assert len({r["request_id"] for r in rows}) == len(rows) == 6
    assert_issued_counts_match_the_request_files(run)

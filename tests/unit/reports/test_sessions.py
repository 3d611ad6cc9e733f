"""Sessions held: per-second sums over Locust processes, the ramp-up's end, the held window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reports.load_plan import load_plan
from reports.sessions import STALE_S, held_sessions, session_column, sessions_per_second

T0 = 1_700_000_000.0


def _samples(rows: list[dict[str, Any]]) -> pd.DataFrame:
    base = {"pid": None, "cpu_percent": None, "rss_bytes": None}
    return pd.DataFrame([{**base, **row} for row in rows])


def _worker(name: str, seconds: range, users: Any, offset: float = 0.3, **extra: Any) -> list[dict[str, Any]]:
    """One Locust process's rows, one per second at ``offset``; ``users(second)`` gives its users."""
    return [
        {"t": T0 + s + offset, "process": f"locust-{name}", "worker": name, "locust_users": users(s), **extra}
        for s in seconds
    ]


CLOSED = load_plan({"load": {"users": 100, "spawn_rate": 10, "duration_s": 30}})


def test_each_second_sums_every_process_last_sample_in_it() -> None:
    rows = _worker("w1", range(5), lambda s: 10 * s) + _worker("w2", range(5), lambda s: 5 * s, offset=0.6)
    rows.append(
        {"t": T0 + 2.9, "process": "locust-w1", "worker": "w1", "locust_users": 99}
    )  # last in second 2

    series = sessions_per_second(_samples(rows), T0, "locust_users")

    assert series["second"].tolist() == [0, 1, 2, 3, 4]
    assert series["sessions"].tolist() == [0, 15, 99 + 10, 45, 60]


def test_the_master_is_left_out_and_its_target_is_kept() -> None:
    rows = _worker("w1", range(3), lambda s: 7)
    rows += [
        {
            "t": T0 + s + 0.5,
            "process": "locust-master",
            "worker": "master",
            "locust_users": 7,
            "target_users": 8,
        }
        for s in range(3)
    ]

    series = sessions_per_second(_samples(rows), T0, "locust_users")

    assert series["sessions"].tolist() == [7, 7, 7]
    assert series["target_users"].tolist() == [8, 8, 8]


def test_a_missed_sample_carries_the_last_value_until_it_is_stale() -> None:
    rows = _worker("w1", [0, 1], lambda s: 10) + _worker("w2", range(8), lambda s: 1)

    series = sessions_per_second(_samples(rows), T0, "locust_users")

    # w1's last sample (1.3 s) still counts at the end of second 2 (1.7 s old), no longer at the end
    # of second 3 (2.7 s old > STALE_S): a process that stopped sampling counts 0 again.
    assert STALE_S == 2.5
    assert series["sessions"].tolist() == [11, 11, 11, 1, 1, 1, 1, 1]


def test_ramp_up_ends_at_the_first_second_with_the_peak_and_the_window_runs_to_the_load_end() -> None:
    rows = _worker("w1", range(30), lambda s: min(100, 10 * s))  # reaches 100 in second 10
    rows[20]["locust_users"] = 97  # a dip after the ramp-up

    held = held_sessions(_samples(rows), CLOSED, T0, 30.0)

    assert (held.ramp_end_s, held.window_start_s, held.window_end_s) == (10.0, 10.0, 30.0)
    assert held.ramp_end_source == "first second with 100 sessions"
    assert (held.min_sessions, held.max_sessions, held.seconds) == (97.0, 100.0, 20)
    assert held.column == "locust_users"


def test_a_peak_never_reached_falls_back_on_the_planned_ramp_end() -> None:
    rows = _worker("w1", range(30), lambda s: min(95, 10 * s))

    held = held_sessions(_samples(rows), CLOSED, T0, 30.0)

    assert held.ramp_end_s == 10.0  # 100 users at 10 users/s
    assert held.ramp_end_source.startswith("planned ramp end (never reached 100")
    assert held.min_sessions == 95.0


def test_the_window_never_starts_before_the_warmup_ends() -> None:
    plan = load_plan({"load": {"users": 100, "spawn_rate": 10, "duration_s": 30, "warmup_s": 15}})
    rows = _worker("w1", range(30), lambda s: 50 if s == 12 else min(100, 10 * s))

    held = held_sessions(_samples(rows), plan, T0, 30.0)

    assert held.window_start_s == 15.0
    assert held.min_sessions == 100.0  # the dip at 12 s is in the warm-up


def test_the_open_model_counts_sessions_in_flight() -> None:
    plan = load_plan(
        {"load": {"model": "open", "duration_s": 20, "open": {"arrival_rate_per_s": 5, "max_sessions": 40}}}
    )
    rows = _worker("local", range(20), lambda s: 40, sessions_in_flight=None)
    for second, row in enumerate(rows):
        row["sessions_in_flight"] = min(30, 3 * second)
    samples = _samples(rows)

    held = held_sessions(samples, plan, T0, 20.0)

    assert session_column(samples, plan) == "sessions_in_flight"
    assert held.ramp_end_source.startswith("planned ramp end (never reached 40")
    assert held.window_start_s == 0.0
    assert (held.min_sessions, held.max_sessions) == (0.0, 30.0)


def test_an_old_run_without_session_columns_has_no_figures_and_says_why() -> None:
    samples = _samples([{"t": T0 + 1, "process": "locust", "cpu_percent": 50.0, "rss_bytes": 1}])

    held = held_sessions(samples, CLOSED, T0, 30.0)

    assert held.min_sessions is None and held.column is None
    assert "no Locust session samples" in held.detail
    assert sessions_per_second(samples, T0, "locust_users").empty


def test_a_window_with_no_whole_second_of_samples_has_no_figures() -> None:
    rows = _worker("w1", range(3), lambda s: 100)

    held = held_sessions(_samples(rows), CLOSED, T0, 30.0)  # samples stop at 2.3 s

    assert held.min_sessions == 0.0  # 100 at 0-2 s, then no fresh sample: 0, not "no data"
    assert held.max_sessions == 100.0
    late = held_sessions(_samples(rows), CLOSED, T0 - 100, 30.0)  # every sample after the load end
    assert late.min_sessions is None
    assert "no whole second" in late.detail


def test_per_second_sums_are_exact_with_many_processes() -> None:
    rng = np.random.default_rng(7)
    rows = []
    for worker in range(20):
        users = rng.integers(0, 50, size=10)
        rows += _worker(
            f"w{worker}", range(10), lambda s, u=users: int(u[s]), offset=float(rng.uniform(0.01, 0.99))
        )
    frame = _samples(rows)

    series = sessions_per_second(frame, T0, "locust_users")

    expected = frame.assign(second=np.floor(frame["t"] - T0)).groupby("second")["locust_users"].sum()
    assert series["sessions"].tolist() == expected.tolist()


def test_users_stopping_after_the_planned_end_are_not_counted() -> None:
    rows = _worker(
        "w1", range(32), lambda s: 100 if s < 30 else 0
    )  # users stop at 30 s; Locust exits at 31.9

    held = held_sessions(_samples(rows), CLOSED, T0, 31.9)

    assert held.window_end_s == 30.0
    assert held.min_sessions == 100.0
    early_end = held_sessions(_samples(rows), CLOSED, T0, 20.0)  # a run that ended early: its own end
    assert early_end.window_end_s == 20.0

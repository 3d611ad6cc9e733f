"""The load plan re-read from scenario.yaml: stages as LoadConfig.effective_stages() plays them."""

from __future__ import annotations

from reports.load_plan import load_plan


def test_a_capacity_search_is_one_stage_per_step() -> None:
    plan = load_plan(
        {
            "load": {
                "spawn_rate": 20,
                "warmup_s": 3,
                "capacity": {
                    "enabled": True,
                    "start_users": 50,
                    "step_users": 50,
                    "max_users": 180,
                    "step_duration_s": 30,
                    "settle_s": 5,
                },
            }
        }
    )

    assert [(s.start_s, s.users, s.spawn_rate) for s in plan.stages] == [
        (0, 50, 20),
        (30, 100, 20),
        (60, 150, 20),
    ]
    assert plan.capacity is not None and (plan.capacity.step_duration_s, plan.capacity.settle_s) == (30, 5)
    assert (plan.warmup_s, plan.total_duration_s(), plan.peak_sessions()) == (3, 90, 150)
    assert plan.planned_ramp_end_s() == 60 + 50 / 20


def test_stages_start_one_after_another_and_take_the_loads_spawn_rate_by_default() -> None:
    plan = load_plan(
        {
            "load": {
                "spawn_rate": 10,
                "stages": [
                    {"duration_s": 20, "users": 100},
                    {"duration_s": 60, "users": 400, "spawn_rate": 50},
                    {"duration_s": 10, "users": 0},
                ],
            }
        }
    )

    assert [(s.start_s, s.end_s, s.users, s.spawn_rate) for s in plan.stages] == [
        (0, 20, 100, 10),
        (20, 80, 400, 50),
        (80, 90, 0, 10),
    ]
    assert plan.capacity is None
    assert plan.planned_ramp_end_s() == 20 + 300 / 50


def test_a_disabled_capacity_search_leaves_the_plain_users() -> None:
    plan = load_plan({"load": {"users": 5, "duration_s": 9, "capacity": {"enabled": False}}})

    assert [(s.users, s.duration_s) for s in plan.stages] == [(5, 9)]
    assert plan.capacity is None
    assert plan.planned_ramp_end_s() == 0.5  # 5 users at the default 10/s


def test_the_open_model_has_no_stages() -> None:
    plan = load_plan(
        {"load": {"model": "open", "duration_s": 60, "open": {"arrival_rate_per_s": 20, "max_sessions": 300}}}
    )

    assert plan.is_open and plan.stages == ()
    assert (plan.arrival_rate_per_s, plan.max_sessions, plan.peak_sessions()) == (20, 300, 300)
    assert (plan.total_duration_s(), plan.planned_ramp_end_s()) == (60, 0.0)


def test_an_old_or_odd_scenario_gives_an_empty_plan_and_says_why() -> None:
    missing = load_plan({"name": "old"})
    odd = load_plan({"load": {"warmup_s": "soon", "stages": [{"users": 3}]}})

    assert missing.stages == () and missing.warmup_s == 0 and "no load section" in missing.problems[0]
    assert odd.stages == () and odd.warmup_s == 0
    assert odd.problems == (
        "load.warmup_s is not a number ('soon'); using 0",
        "load.stages[0] has no numeric duration_s and users; stages ignored",
    )

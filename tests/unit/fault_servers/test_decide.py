"""Seeded decisions over a timeline, with a hand-driven clock: what fires, when, and in which order."""

from __future__ import annotations

import random

import pytest

from fault_servers import (
    CrashFault,
    DropMidResponseFault,
    ErrorFault,
    FaultDecision,
    FaultInjector,
    FaultPlan,
    FlappingFault,
    HangFault,
    HttpStatusFault,
    JsonRpcError,
    JsonRpcErrorFault,
    LatencyFault,
    MalformedFault,
    OversizedFault,
    Refusal,
    SlowStartFault,
    TimelineWindow,
    TransportDecision,
    parse_faults,
)

RUN_START = 1_000.0


class FakeClock:
    """A wall clock moved by hand."""

    def __init__(self, now: float = RUN_START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def seeded(plan: FaultPlan, seed: int = 1, clock: FakeClock | None = None) -> FaultInjector:
    return FaultInjector.seeded(plan, seed, clock=clock or FakeClock(), run_start_s=RUN_START)


MIXED = parse_faults(
    {
        "faults": [
            {"kind": "latency", "min_s": 0.1, "max_s": 0.5, "probability": 0.5},
            {"kind": "error", "probability": 0.2},
            {"kind": "malformed", "mode": "not_json", "probability": 0.1},
        ],
        "timeline": [
            {"at_s": 10, "for_s": 10, "fault": {"kind": "jsonrpc_error", "probability": 0.5}},
            {
                "at_s": 15,
                "fault": {
                    "kind": "latency",
                    "distribution": "pareto",
                    "min_s": 0.01,
                    "alpha": 1.2,
                    "max_s": 3,
                },
            },
            {
                "at_s": 5,
                "for_s": 20,
                "fault": {"kind": "flapping", "up_s": 2, "down_s": 1, "probability": 0.7},
            },
            {"at_s": 12, "for_s": 3, "fault": {"kind": "http_status", "status": 429, "probability": 0.3}},
        ],
    },
    "mixed",
)
SCRIPT = [(RUN_START + i * 0.25, ("get_forecast", "get_current_weather")[i % 2]) for i in range(120)]


def play(seed: int, plan: FaultPlan = MIXED) -> list[tuple[FaultDecision, TransportDecision]]:
    """Run the same script of (time, tool) through a fresh injector: one transport and one call decision each."""
    clock = FakeClock()
    injector = seeded(plan, seed, clock)
    decisions = []
    for now, tool in SCRIPT:
        clock.now = now
        decisions.append((injector.decide(tool), injector.decide_request(tool)))
    return decisions


def test_the_same_seed_and_timeline_give_the_same_decisions() -> None:
    assert play(seed=7) == play(seed=7)


def test_different_seeds_give_different_decisions() -> None:
    assert play(seed=7) != play(seed=8)


def test_the_script_exercises_every_kind_of_decision() -> None:
    calls = [call for call, _ in play(seed=7)]
    requests = [request for _, request in play(seed=7)]

    assert any(call.delay_s > 0 for call in calls)
    assert any(call.error is not None for call in calls)
    assert any(call.jsonrpc_error is not None for call in calls)
    assert {r.refusal.reason for r in requests if r.refusal is not None} == {"flapping", "http_status"}
    assert any(r.not_json for r in requests)


def test_timeline_faults_are_active_only_inside_their_window() -> None:
    plan = FaultPlan(timeline=(TimelineWindow(at_s=10.0, for_s=5.0, fault=ErrorFault()),))
    clock = FakeClock()
    injector = seeded(plan, clock=clock)
    fired = {}
    for offset in (0.0, 9.999, 10.0, 14.999, 15.0, 100.0):
        clock.now = RUN_START + offset
        fired[offset] = injector.decide("t").error is not None

    assert fired == {0.0: False, 9.999: False, 10.0: True, 14.999: True, 15.0: False, 100.0: False}


def test_a_window_without_for_s_lasts_until_the_end() -> None:
    plan = FaultPlan(timeline=(TimelineWindow(at_s=1.0, fault=HangFault()),))
    clock = FakeClock(RUN_START + 1e6)

    assert seeded(plan, clock=clock).decide("t").hang


def test_a_process_started_late_follows_the_run_start_not_its_own_start() -> None:
    plan = FaultPlan(timeline=(TimelineWindow(at_s=10.0, for_s=5.0, fault=ErrorFault()),))
    clock = FakeClock(RUN_START + 12.0)  # a respawned process, mid-window
    injector = seeded(plan, clock=clock)

    in_window = injector.decide("t")
    clock.now = RUN_START + 15.0
    after = injector.decide("t")

    assert in_window.error is not None
    assert after.is_noop


def test_the_call_stream_draws_once_per_targeting_fault_then_once_for_a_firing_range() -> None:
    plan = FaultPlan(
        faults=(
            LatencyFault(min_s=1.0, max_s=2.0, probability=0.5),
            JsonRpcErrorFault(probability=0.5, code=-1, message="m"),
            OversizedFault(size_bytes=10, probability=0.5, tools=("other",)),
        ),
        timeline=(TimelineWindow(at_s=0.0, fault=HangFault(probability=0.5)),),
    )
    mirror = random.Random(3)
    expected = []
    for _ in range(200):
        delay_s = mirror.uniform(1.0, 2.0) if mirror.random() < 0.5 else 0.0
        error = JsonRpcError(-1, "m") if mirror.random() < 0.5 else None
        hang = mirror.random() < 0.5
        expected.append(FaultDecision(delay_s=delay_s, jsonrpc_error=error, hang=hang))

    injector = seeded(plan, seed=3)

    assert [injector.decide("tool") for _ in range(200)] == expected


def test_the_transport_stream_is_separate_from_the_call_stream() -> None:
    calls_only = FaultPlan(faults=(ErrorFault(probability=0.5),))
    both = FaultPlan(faults=(ErrorFault(probability=0.5), DropMidResponseFault(probability=0.5)))
    a, b = seeded(calls_only, seed=4), seeded(both, seed=4)

    for _ in range(50):
        b.decide_request("t")

    assert [a.decide("t") for _ in range(50)] == [b.decide("t") for _ in range(50)]


def test_transport_decisions_draw_from_the_seed_transport_stream() -> None:
    plan = FaultPlan(
        faults=(DropMidResponseFault(probability=0.5), MalformedFault(mode="not_json", probability=0.5))
    )
    mirror = random.Random("9:transport")
    expected = [
        TransportDecision(drop=mirror.random() < 0.5, not_json=mirror.random() < 0.5) for _ in range(100)
    ]
    injector = seeded(plan, seed=9)

    assert [injector.decide_request("t") for _ in range(100)] == expected


def test_flapping_is_up_then_down_from_its_window_start_with_retry_after_the_rest_of_the_down_phase() -> None:
    plan = FaultPlan(timeline=(TimelineWindow(at_s=10.0, fault=FlappingFault(up_s=2.0, down_s=3.0)),))
    clock = FakeClock()
    injector = seeded(plan, clock=clock)
    seen = {}
    for offset in (10.0, 11.9, 12.0, 13.5, 14.9, 15.0, 17.0):
        clock.now = RUN_START + offset
        refusal = injector.decide_request(None).refusal
        seen[offset] = None if refusal is None else refusal.retry_after_s

    assert seen == {10.0: None, 11.9: None, 12.0: 3, 13.5: 2, 14.9: 1, 15.0: None, 17.0: 3}


def test_static_flapping_counts_its_phases_from_the_run_start() -> None:
    plan = FaultPlan(faults=(FlappingFault(up_s=1.0, down_s=1.0),))
    clock = FakeClock(RUN_START + 1.5)  # started long after the run start: already in a down phase

    assert seeded(plan, clock=clock).decide_request("t").refusal == Refusal(503, 1, "flapping")


def test_flapping_in_its_up_phase_makes_no_draw() -> None:
    up = FaultPlan(faults=(FlappingFault(up_s=100.0, down_s=1.0), DropMidResponseFault(probability=0.5)))
    drop_only = FaultPlan(faults=(DropMidResponseFault(probability=0.5),))

    first, second = seeded(up, seed=2), seeded(drop_only, seed=2)

    assert [first.decide_request("t") for _ in range(50)] == [second.decide_request("t") for _ in range(50)]


def test_an_http_status_fault_refuses_with_its_status_and_retry_after() -> None:
    plan = FaultPlan(faults=(HttpStatusFault(status=429, retry_after_s=7, tools=("get_forecast",)),))
    injector = seeded(plan)

    assert injector.decide_request("get_forecast").refusal == Refusal(429, 7, "http_status")
    assert injector.decide_request("get_current_weather").is_noop


def test_untargeted_transport_faults_also_hit_requests_that_are_not_tool_calls() -> None:
    targeted = seeded(FaultPlan(faults=(HttpStatusFault(status=503, tools=("t",)),)))
    untargeted = seeded(FaultPlan(faults=(HttpStatusFault(status=503),)))

    assert targeted.decide_request(None).is_noop
    assert untargeted.decide_request(None).refusal is not None


def test_call_layer_kinds_are_decided_per_call_and_transport_kinds_per_request() -> None:
    plan = FaultPlan(
        faults=(
            CrashFault(exit_code=9),
            MalformedFault(mode="wrong_shape"),
            OversizedFault(size_bytes=100),
            OversizedFault(size_bytes=300),
            MalformedFault(mode="not_json"),
            DropMidResponseFault(),
        )
    )
    injector = seeded(plan)

    assert injector.decide("t") == FaultDecision(crash_exit_code=9, wrong_shape=True, oversized_bytes=300)
    assert injector.decide_request("t") == TransportDecision(not_json=True, drop=True)


def test_the_first_firing_error_of_each_kind_wins() -> None:
    plan = FaultPlan(
        faults=(
            ErrorFault(message="first"),
            ErrorFault(message="second"),
            JsonRpcErrorFault(code=1, message="a"),
            JsonRpcErrorFault(code=2, message="b"),
            CrashFault(exit_code=3),
            CrashFault(exit_code=4),
        )
    )

    decision = seeded(plan).decide("t")

    assert (decision.error, decision.jsonrpc_error, decision.crash_exit_code) == (
        "first",
        JsonRpcError(1, "a"),
        3,
    )


@pytest.mark.parametrize(
    "fault",
    [
        LatencyFault(0.05, 2.0, distribution="pareto", alpha=1.1),
        LatencyFault(0.0, 2.0, distribution="lognormal", median_s=0.1, sigma=1.5),
        LatencyFault(0.07, 2.0, distribution="lognormal", median_s=0.1, sigma=1.5),
    ],
    ids=["pareto", "lognormal", "lognormal with a floor"],
)
def test_heavy_tailed_delays_stay_within_min_s_and_the_max_s_cap_and_have_a_tail(fault: LatencyFault) -> None:
    injector = seeded(FaultPlan(faults=(fault,)), seed=11)

    delays = sorted(injector.decide("t").delay_s for _ in range(5000))

    assert fault.min_s <= delays[0] and delays[-1] <= fault.max_s
    assert delays[-1] == fault.max_s  # the cap is reached
    assert delays[len(delays) // 2] < 0.2  # while the median stays small


def test_a_slow_start_applies_to_a_process_starting_while_it_is_active() -> None:
    plan = FaultPlan(
        faults=(SlowStartFault(delay_s=1.0),),
        timeline=(TimelineWindow(at_s=10.0, for_s=5.0, fault=SlowStartFault(delay_s=2.0)),),
    )

    assert seeded(plan, clock=FakeClock(RUN_START)).startup_delay_s() == 1.0
    assert seeded(plan, clock=FakeClock(RUN_START + 12.0)).startup_delay_s() == 3.0


def test_a_slow_start_draw_is_the_same_in_every_process_with_the_same_seed() -> None:
    plan = FaultPlan(faults=tuple(SlowStartFault(delay_s=2.0**-i, probability=0.5) for i in range(12)))

    first = [seeded(plan, seed=5).startup_delay_s() for _ in range(3)]

    assert first[0] == first[1] == first[2]
    assert 0 < first[0] < sum(2.0**-i for i in range(12))


def test_a_crash_window_is_due_once_it_opens_and_for_every_process_started_inside_it() -> None:
    plan = FaultPlan(
        timeline=(
            TimelineWindow(at_s=10.0, for_s=5.0, fault=CrashFault(exit_code=7, trigger="window_start")),
        )
    )
    clock = FakeClock(RUN_START + 1.0)
    alive = seeded(plan, clock=clock)

    before = alive.crash_due()
    clock.now = RUN_START + 10.0
    at_start = alive.crash_due()
    respawned_inside = seeded(plan, clock=FakeClock(RUN_START + 12.0)).crash_due()
    respawned_after = seeded(plan, clock=FakeClock(RUN_START + 15.0)).crash_due()

    assert before is None
    assert at_start is not None and at_start[0].key_path == "timeline[0]" and at_start[1].exit_code == 7
    assert respawned_inside is not None
    assert respawned_after is None


def test_a_zero_length_crash_window_crashes_only_the_processes_alive_at_its_start() -> None:
    plan = FaultPlan(
        timeline=(TimelineWindow(at_s=10.0, for_s=0.0, fault=CrashFault(trigger="window_start")),)
    )
    clock = FakeClock(RUN_START)
    alive = seeded(plan, clock=clock)
    clock.now = RUN_START + 10.5

    assert alive.crash_due() is not None
    assert seeded(plan, clock=FakeClock(RUN_START + 10.5)).crash_due() is None


def test_a_replaced_plan_starts_its_static_faults_now_and_keeps_the_run_start() -> None:
    clock = FakeClock(RUN_START + 3.0)
    injector = seeded(FaultPlan(), clock=clock)
    clock.now = RUN_START + 8.0

    schedule = injector.replace_plan(FaultPlan(faults=(ErrorFault(),)))

    assert (schedule.installed_at, schedule.run_start) == (RUN_START + 8.0, RUN_START)
    assert injector.decide("t").error is not None


def test_a_plain_injector_keeps_the_old_constructor_and_counts_the_timeline_from_its_creation() -> None:
    clock = FakeClock(50.0)
    plan = FaultPlan(timeline=(TimelineWindow(at_s=1.0, fault=ErrorFault()),))
    injector = FaultInjector(plan, random.Random(0), clock=clock)

    before = injector.decide("t")
    clock.now = 51.0

    assert before.is_noop
    assert injector.decide("t").error is not None
    assert injector.run_start_s == 50.0

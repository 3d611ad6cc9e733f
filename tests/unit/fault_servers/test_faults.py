"""The fault decision core: determinism, probabilities, delays, targeting and applying decisions."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from mcp.server.fastmcp.exceptions import ToolError
from mcp.shared.exceptions import McpError

from fault_servers import (
    ErrorFault,
    FaultConfigError,
    FaultDecision,
    FaultInjector,
    FaultPlan,
    InjectedFaultError,
    JsonRpcError,
    LatencyFault,
    apply_decision,
)

MIXED_PLAN = FaultPlan(
    faults=(
        LatencyFault(min_s=0.01, max_s=0.5, probability=0.5),
        ErrorFault(probability=0.3, message="boom"),
        LatencyFault(min_s=0.1, max_s=0.1, probability=0.2, tools=("get_forecast",)),
    )
)
TOOLS = ["get_forecast", "get_current_weather"] * 50


def decisions(seed: int, plan: FaultPlan = MIXED_PLAN, tools: list[str] = TOOLS) -> list[FaultDecision]:
    injector = FaultInjector(plan, random.Random(seed))
    return [injector.decide(tool) for tool in tools]


class RecordingSleep:
    """Stands in for asyncio.sleep and remembers what it was asked to wait."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, delay_s: float) -> None:
        self.calls.append(delay_s)


def test_same_seed_gives_the_same_fault_decisions() -> None:
    assert decisions(seed=7) == decisions(seed=7)


def test_different_seeds_give_different_fault_decisions() -> None:
    assert decisions(seed=7) != decisions(seed=8)


def test_the_draw_order_is_one_probability_draw_per_targeting_fault_and_one_uniform_draw_when_it_fires() -> (
    None
):
    plan = FaultPlan(
        faults=(
            LatencyFault(min_s=1.0, max_s=2.0, probability=0.5),
            ErrorFault(probability=0.5, message="e"),
            LatencyFault(min_s=9.0, max_s=9.0, probability=1.0, tools=("other",)),
        )
    )
    mirror = random.Random(3)
    expected: list[FaultDecision] = []
    for _ in range(200):
        delay_s = mirror.uniform(1.0, 2.0) if mirror.random() < 0.5 else 0.0
        error = "e" if mirror.random() < 0.5 else None
        expected.append(FaultDecision(delay_s=delay_s, error=error))

    assert decisions(seed=3, plan=plan, tools=["tool"] * 200) == expected


def test_an_error_fault_fires_at_roughly_its_probability() -> None:
    plan = FaultPlan(faults=(ErrorFault(probability=0.1),))

    fired = sum(d.error is not None for d in decisions(seed=1, plan=plan, tools=["t"] * 10_000))

    assert 800 <= fired <= 1200


def test_probability_zero_never_fires_and_one_always_fires() -> None:
    never = FaultPlan(faults=(ErrorFault(probability=0.0),))
    always = FaultPlan(faults=(ErrorFault(probability=1.0),))

    assert all(d.error is None for d in decisions(seed=2, plan=never))
    assert all(d.error is not None for d in decisions(seed=2, plan=always))


def test_uniform_delays_stay_inside_their_bounds_and_vary() -> None:
    plan = FaultPlan(faults=(LatencyFault(min_s=0.2, max_s=0.4),))

    delays = [d.delay_s for d in decisions(seed=5, plan=plan, tools=["t"] * 1000)]

    assert all(0.2 <= delay <= 0.4 for delay in delays)
    assert len(set(delays)) > 900


def test_a_fixed_delay_is_served_exactly() -> None:
    plan = FaultPlan(faults=(LatencyFault(min_s=0.25, max_s=0.25),))

    assert {d.delay_s for d in decisions(seed=5, plan=plan)} == {0.25}


def test_delays_of_several_firing_latency_faults_add_up() -> None:
    plan = FaultPlan(faults=(LatencyFault(min_s=0.1, max_s=0.1), LatencyFault(min_s=0.2, max_s=0.2)))

    assert decisions(seed=0, plan=plan, tools=["t"])[0].delay_s == pytest.approx(0.3)


def test_the_first_firing_error_fault_gives_the_message() -> None:
    plan = FaultPlan(faults=(ErrorFault(message="first"), ErrorFault(message="second")))

    assert decisions(seed=0, plan=plan, tools=["t"])[0].error == "first"


def test_a_fault_only_hits_the_tools_it_targets() -> None:
    plan = FaultPlan(faults=(ErrorFault(tools=("get_forecast",)),))
    injector = FaultInjector(plan, random.Random(0))

    assert injector.decide("get_forecast").error is not None
    assert injector.decide("get_current_weather").is_noop


def test_a_fault_that_does_not_target_the_tool_makes_no_draw() -> None:
    targeted = FaultPlan(faults=(ErrorFault(probability=0.5, tools=("other",)), ErrorFault(probability=0.5)))
    untargeted = FaultPlan(faults=(ErrorFault(probability=0.5),))

    assert decisions(seed=4, plan=targeted, tools=["t"] * 100) == decisions(
        seed=4, plan=untargeted, tools=["t"] * 100
    )


def test_an_empty_plan_leaves_every_call_untouched() -> None:
    assert all(d.is_noop for d in decisions(seed=0, plan=FaultPlan()))


def test_check_tool_names_rejects_a_tool_the_server_does_not_have() -> None:
    plan = FaultPlan(
        faults=(ErrorFault(), ErrorFault(tools=("get_forecast", "get_forcast"))), source="f.yaml"
    )

    with pytest.raises(
        FaultConfigError, match=r"f\.yaml: faults\[1\]\.tools\[1\]: unknown tool 'get_forcast'"
    ):
        plan.check_tool_names(frozenset({"get_forecast"}))


@pytest.mark.parametrize(
    "build",
    [
        lambda: LatencyFault(min_s=-1.0, max_s=1.0),
        lambda: LatencyFault(min_s=2.0, max_s=1.0),
        lambda: LatencyFault(min_s=0.0, max_s=0.0, probability=1.5),
        lambda: ErrorFault(probability=-0.5),
        lambda: ErrorFault(tools=("",)),
    ],
    ids=["negative min", "max below min", "probability above one", "negative probability", "empty tool name"],
)
def test_faults_built_in_code_are_validated_on_construction(build: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        build()


async def test_applying_a_delay_sleeps_for_it_through_the_injected_sleep() -> None:
    sleep = RecordingSleep()

    await apply_decision(FaultDecision(delay_s=0.3), sleep=sleep)

    assert sleep.calls == [0.3]


async def test_applying_no_fault_neither_sleeps_nor_raises() -> None:
    sleep = RecordingSleep()

    await apply_decision(FaultDecision(), sleep=sleep)

    assert sleep.calls == []


async def test_applying_an_error_sleeps_first_then_raises_a_tool_error_with_the_message() -> None:
    sleep = RecordingSleep()

    with pytest.raises(InjectedFaultError, match=r"^injected failure$") as caught:
        await apply_decision(FaultDecision(delay_s=0.1, error="injected failure"), sleep=sleep)

    assert isinstance(caught.value, ToolError)
    assert sleep.calls == [0.1]


class RecordingExit:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def __call__(self, exit_code: int) -> None:
        self.codes.append(exit_code)


async def test_applying_a_crash_sleeps_first_then_exits_with_its_code() -> None:
    sleep, exit = RecordingSleep(), RecordingExit()

    await apply_decision(FaultDecision(delay_s=0.2, crash_exit_code=5), sleep=sleep, exit=exit)

    assert (sleep.calls, exit.codes) == ([0.2], [5])


async def test_applying_a_hang_awaits_the_hang_before_any_error() -> None:
    hung: list[bool] = []

    async def hang() -> None:
        hung.append(True)

    with pytest.raises(InjectedFaultError):
        await apply_decision(FaultDecision(hang=True, error="after"), hang=hang)

    assert hung == [True]


async def test_applying_a_jsonrpc_error_raises_mcp_error_before_an_is_error_error() -> None:
    decision = FaultDecision(jsonrpc_error=JsonRpcError(-32001, "down"), error="is error")

    with pytest.raises(McpError) as caught:
        await apply_decision(decision, sleep=RecordingSleep())

    assert (caught.value.error.code, caught.value.error.message) == (-32001, "down")


def test_the_tool_side_module_keeps_its_old_names() -> None:
    from fault_servers import faults

    assert {"FaultInjector", "FaultDecision", "Sleep", "apply_decision", "InjectedFaultError"} <= set(
        dir(faults)
    )

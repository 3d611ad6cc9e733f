"""The ratio budget: a share of recent calls, a per-second floor, tokens that expire."""

from __future__ import annotations

import pytest

from harness.resilience.budget import BudgetConfig, RatioBudget


def spend_all(budget: RatioBudget, now: float) -> int:
    spent = 0
    while budget.try_spend(now):
        spent += 1
    return spent


def test_allows_at_most_the_ratio_of_recent_calls() -> None:
    budget = RatioBudget(BudgetConfig(ratio=0.2, min_per_s=0.0, window_s=10.0))
    for _ in range(100):
        budget.record_call(1.0)
    assert spend_all(budget, 1.0) == 20


def test_the_floor_lets_a_quiet_client_spend_min_per_s_times_the_window() -> None:
    budget = RatioBudget(BudgetConfig(ratio=0.2, min_per_s=0.5, window_s=10.0))
    assert spend_all(budget, 0.0) == 5


def test_calls_and_spent_tokens_leave_the_window() -> None:
    budget = RatioBudget(BudgetConfig(ratio=0.5, min_per_s=0.0, window_s=10.0, buckets=10))
    for _ in range(10):
        budget.record_call(0.5)
    assert spend_all(budget, 0.5) == 5
    assert budget.balance(9.9) == 0.0
    assert budget.balance(10.0) == 0.0  # both the calls and the spending of second 0 are gone
    assert budget.calls == 0 and budget.spent == 0


def test_spending_expires_with_its_slice_even_while_calls_continue() -> None:
    budget = RatioBudget(BudgetConfig(ratio=1.0, min_per_s=0.0, window_s=2.0, buckets=2))
    budget.record_call(0.0)
    assert budget.try_spend(0.0) and not budget.try_spend(0.0)
    budget.record_call(1.0)
    assert budget.try_spend(1.0) and not budget.try_spend(1.0)
    budget.record_call(2.0)  # slice 0 (one call, one spend) left the window
    assert budget.balance(2.0) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": -0.1}, "ratio"),
        ({"min_per_s": -1}, "min_per_s"),
        ({"window_s": 0}, "window_s"),
        ({"buckets": 0}, "buckets"),
    ],
)
def test_config_rejects_values_out_of_range(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        BudgetConfig(**kwargs)  # type: ignore[arg-type]

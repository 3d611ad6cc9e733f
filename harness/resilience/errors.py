"""Errors raised by the asyncio wrappers of this package.

Each carries the ``calls``-table ``outcome`` it stands for, so
:func:`harness.resilience.outcomes.outcome_of` and the manager can record it
without knowing the class.
"""

from __future__ import annotations

from harness.errors import ChaosbenchError

__all__ = ["BreakerOpenError", "CallTimeoutError", "PoolTimeoutError", "ResilienceError"]


class ResilienceError(ChaosbenchError):
    """A call was refused or cut short by a resilience primitive (not by the server)."""

    outcome = "error"


class BreakerOpenError(ResilienceError):
    """The circuit breaker refused the call; ``state`` is the state that refused it."""

    outcome = "rejected_open"

    def __init__(self, name: str, state: str) -> None:
        super().__init__(f"circuit breaker {name or '(unnamed)'} is {state}: call not sent")
        self.name = name
        self.state = state


class PoolTimeoutError(ResilienceError):
    """The bulkhead gave no slot: ``reason`` is ``queue_full`` or ``wait_expired``."""

    outcome = "pool_timeout"

    def __init__(self, name: str, reason: str, detail: str) -> None:
        super().__init__(f"bulkhead {name or '(unnamed)'}: {reason}: {detail}")
        self.name = name
        self.reason = reason


class CallTimeoutError(ResilienceError, TimeoutError):
    """No answer within the call's timeout (or its deadline)."""

    outcome = "timeout"

    def __init__(self, timeout_s: float) -> None:
        super().__init__(f"no answer within {timeout_s:g}s")
        self.timeout_s = timeout_s

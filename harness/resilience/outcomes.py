"""Outcome names of the ``calls`` table and how an exception maps onto one.

Every primitive in this package speaks in these names, so a breaker, a retry
planner and the manager agree on what happened to a call:

- ``ok``: the server answered and the tool succeeded.
- ``tool_error``: the server answered, the tool reported an error (``isError``).
- ``transport_error``: no usable answer (connection refused or closed, protocol error).
- ``timeout``: no answer within the call timeout.
- ``rejected_open``: the circuit breaker refused the call (never sent).
- ``pool_timeout``: the bulkhead had no free slot in time, or its wait queue was full.
- ``denied``: the gateway refused the caller (auth); never reaches a server.
- ``cancelled``: the caller gave up; says nothing about the server.

Only the first four describe the server. Of those, ``COUNTABLE_OUTCOMES`` are
the ones a breaker may be configured to count as failures; the rest never count.
"""

from __future__ import annotations

import asyncio
from typing import Final

__all__ = [
    "CANCELLED",
    "COUNTABLE_OUTCOMES",
    "DEFAULT_FAILURE_OUTCOMES",
    "DEFAULT_RETRYABLE_OUTCOMES",
    "OK",
    "POOL_TIMEOUT",
    "REJECTED_OPEN",
    "TIMEOUT",
    "TOOL_ERROR",
    "TRANSPORT_ERROR",
    "check_outcomes",
    "outcome_of",
    "retry_after_of",
]

OK: Final = "ok"
TOOL_ERROR: Final = "tool_error"
TRANSPORT_ERROR: Final = "transport_error"
TIMEOUT: Final = "timeout"
REJECTED_OPEN: Final = "rejected_open"
POOL_TIMEOUT: Final = "pool_timeout"
CANCELLED: Final = "cancelled"

#: Outcomes a breaker may count as failures: each says something about the server.
COUNTABLE_OUTCOMES: Final = frozenset({TOOL_ERROR, TRANSPORT_ERROR, TIMEOUT})
DEFAULT_FAILURE_OUTCOMES: Final = COUNTABLE_OUTCOMES
#: A tool error is the tool's answer: sending the same call again would get the same answer.
DEFAULT_RETRYABLE_OUTCOMES: Final = frozenset({TRANSPORT_ERROR, TIMEOUT})


def check_outcomes(name: str, outcomes: frozenset[str], allowed: frozenset[str]) -> None:
    """Raise ``ValueError`` naming ``name`` if ``outcomes`` holds a name outside ``allowed``."""
    unknown = sorted(outcomes - allowed)
    if unknown:
        raise ValueError(f"{name} may only hold {sorted(allowed)}, got unknown {unknown}")


def outcome_of(exc: BaseException) -> str:
    """The outcome name an exception stands for.

    An exception carrying a string ``outcome`` attribute (``ToolCallError`` and
    this package's errors) says so itself; a ``TimeoutError`` is a ``timeout``;
    a cancellation is ``cancelled``; anything else is a ``transport_error``.
    """
    outcome = getattr(exc, "outcome", None)
    if isinstance(outcome, str):
        return outcome
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, asyncio.CancelledError):
        return CANCELLED
    return TRANSPORT_ERROR


def retry_after_of(exc: BaseException) -> float | None:
    """A server's Retry-After hint in seconds, if the exception carries one as ``retry_after_s``."""
    hint = getattr(exc, "retry_after_s", None)
    if isinstance(hint, int | float) and not isinstance(hint, bool) and hint >= 0:
        return float(hint)
    return None

"""Resilience primitives: pure decision cores the manager acts on."""

from harness.resilience.breaker import BreakerConfig, BreakerState, CircuitBreaker, Permit, Transition

__all__ = ["BreakerConfig", "BreakerState", "CircuitBreaker", "Permit", "Transition"]

"""Run orchestration: processes, run directory, sampling, progress."""

from harness.orchestrator.run import RunOptions, run_scenario

__all__ = ["RunOptions", "run_scenario"]

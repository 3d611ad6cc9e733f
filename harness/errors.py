"""The harness's error hierarchy: one root, every name ends in ``Error``."""

from __future__ import annotations

__all__ = [
    "ChaosbenchError",
    "ConfigError",
    "HarnessFailedError",
    "ScenarioError",
    "ToolCallError",
]


class ChaosbenchError(Exception):
    """Root of every error chaosbench raises on purpose."""


class ScenarioError(ChaosbenchError):
    """A scenario file is missing, unreadable or invalid (CLI exit code 2)."""


class ConfigError(ChaosbenchError):
    """A configuration file or value given to a process is invalid (exit code 2)."""


class HarnessFailedError(ChaosbenchError):
    """The harness itself failed: a process would not start or the run broke (exit code 3)."""


class ToolCallError(ChaosbenchError):
    """A tool call through the manager did not succeed.

    ``outcome`` is one of the ``calls`` table outcomes (``tool_error``,
    ``transport_error``, ``timeout``, ``rejected_open``, ...).
    """

    def __init__(
        self, server: str, tool: str, outcome: str, message: str, *, retry_after_s: float | None = None
    ) -> None:
        super().__init__(f"{server}.{tool}: {outcome}: {message}")
        self.server = server
        self.tool = tool
        self.outcome = outcome
        self.detail = message
        self.retry_after_s = retry_after_s

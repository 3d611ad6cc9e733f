"""Errors raised by the fault servers package.

Every error the package raises on purpose derives from `FaultServerError`, so a
caller can catch the package's failures without catching programming errors.
Faults injected into a tool call are not among them: those are
`InjectedFaultError` (in `faults`), a FastMCP `ToolError`, because the MCP
server must turn them into an `isError=True` tool result.
"""

from __future__ import annotations


class FaultServerError(Exception):
    """Root of every error the fault servers package raises on purpose."""


class FaultConfigError(FaultServerError):
    """A fault file, or fault data, is not valid.

    The message names the source (usually a file path), the key path inside it
    (e.g. ``faults[1].probability``) and what was expected there. The three parts
    are also kept as attributes so callers and tests need not parse the message.
    """

    def __init__(self, source: str, key_path: str, problem: str) -> None:
        self.source = source
        self.key_path = key_path
        self.problem = problem
        super().__init__(f"{source}: {key_path}: {problem}")

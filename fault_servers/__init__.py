"""Reference MCP servers and the fault layer that chaosbench runs them behind.

Importing the package does nothing and loads neither the MCP SDK nor any
server: the fault model (`parse_faults`, `load_fault_file`, `FaultPlan`,
`KNOWN_FAULT_KINDS`, ...) is standard library plus PyYAML, so the harness can
validate scenarios cheaply. The server-side names (`apply_decision`,
`InjectedFaultError`, `build_weather_server`) are imported on first use.
Run a server with ``python -m fault_servers serve NAME``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from fault_servers.errors import FaultConfigError, FaultServerError
from fault_servers.fault_file import load_fault_file, parse_faults
from fault_servers.model import (
    DEFAULT_ERROR_MESSAGE,
    HTTP_ONLY_KINDS,
    KNOWN_FAULT_KINDS,
    CrashFault,
    DropMidResponseFault,
    ErrorFault,
    Fault,
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
)

if TYPE_CHECKING:
    from fault_servers.faults import InjectedFaultError, apply_decision
    from fault_servers.weather import build_weather_server

_LAZY = {
    "InjectedFaultError": "fault_servers.faults",
    "apply_decision": "fault_servers.faults",
    "build_weather_server": "fault_servers.weather",
}

__all__ = [
    "DEFAULT_ERROR_MESSAGE",
    "HTTP_ONLY_KINDS",
    "KNOWN_FAULT_KINDS",
    "CrashFault",
    "DropMidResponseFault",
    "ErrorFault",
    "Fault",
    "FaultConfigError",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "FaultServerError",
    "FlappingFault",
    "HangFault",
    "HttpStatusFault",
    "InjectedFaultError",
    "JsonRpcError",
    "JsonRpcErrorFault",
    "LatencyFault",
    "MalformedFault",
    "OversizedFault",
    "Refusal",
    "SlowStartFault",
    "TimelineWindow",
    "TransportDecision",
    "apply_decision",
    "build_weather_server",
    "load_fault_file",
    "parse_faults",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

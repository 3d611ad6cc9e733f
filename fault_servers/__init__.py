"""Reference MCP servers and the fault layer that chaosbench runs them behind.

Importing the package does nothing; run a server with ``python -m fault_servers``.
"""

from fault_servers.errors import FaultConfigError, FaultServerError
from fault_servers.fault_file import load_fault_file, parse_faults
from fault_servers.faults import (
    DEFAULT_ERROR_MESSAGE,
    ErrorFault,
    Fault,
    FaultDecision,
    FaultInjector,
    FaultPlan,
    InjectedFaultError,
    LatencyFault,
    apply_decision,
)
from fault_servers.weather import build_weather_server

__all__ = [
    "DEFAULT_ERROR_MESSAGE",
    "ErrorFault",
    "Fault",
    "FaultConfigError",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "FaultServerError",
    "InjectedFaultError",
    "LatencyFault",
    "apply_decision",
    "build_weather_server",
    "load_fault_file",
    "parse_faults",
]

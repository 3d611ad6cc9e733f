"""The pure fault model: kinds, plans, timelines and seeded decisions.

Standard library only (plus the package's errors), so the harness can
validate fault files without loading the MCP SDK.
"""

from fault_servers.model.decide import (
    NO_FAULT,
    NO_TRANSPORT_FAULT,
    FaultDecision,
    FaultInjector,
    JsonRpcError,
    Refusal,
    TransportDecision,
)
from fault_servers.model.kinds import (
    DEFAULT_ERROR_MESSAGE,
    HTTP_ONLY_KINDS,
    KNOWN_FAULT_KINDS,
    CrashFault,
    DropMidResponseFault,
    ErrorFault,
    Fault,
    FlappingFault,
    HangFault,
    HttpStatusFault,
    JsonRpcErrorFault,
    LatencyFault,
    MalformedFault,
    OversizedFault,
    SlowStartFault,
    targets,
)
from fault_servers.model.plan import FaultPlan, PlanEntry, TimelineWindow, fault_params, fault_to_data
from fault_servers.model.timeline import AppliedWindow, Schedule, WindowTracker

__all__ = [
    "DEFAULT_ERROR_MESSAGE",
    "HTTP_ONLY_KINDS",
    "KNOWN_FAULT_KINDS",
    "NO_FAULT",
    "NO_TRANSPORT_FAULT",
    "AppliedWindow",
    "CrashFault",
    "DropMidResponseFault",
    "ErrorFault",
    "Fault",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "FlappingFault",
    "HangFault",
    "HttpStatusFault",
    "JsonRpcError",
    "JsonRpcErrorFault",
    "LatencyFault",
    "MalformedFault",
    "OversizedFault",
    "PlanEntry",
    "Refusal",
    "Schedule",
    "SlowStartFault",
    "TimelineWindow",
    "TransportDecision",
    "WindowTracker",
    "fault_params",
    "fault_to_data",
    "targets",
]

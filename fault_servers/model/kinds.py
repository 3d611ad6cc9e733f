"""The fault kinds: one frozen dataclass per kind, validated on construction.

Every fault has a `probability` (share of the calls or requests it hits, in
[0, 1]) and `tools` (empty: every tool). Kinds act at one of three layers,
which decides where the fault layer carries them out and which seeded stream
its draws come from (see `decide`):

- ``call``: inside the ``tools/call`` handler: latency, error, jsonrpc_error,
  hang, oversized, crash (``trigger: call``), malformed (``mode: wrong_shape``);
- ``transport``: on the JSON-RPC request as it crosses HTTP or stdio:
  flapping, http_status, drop_mid_response, malformed (``mode: not_json``);
- ``lifecycle``: when a process starts or a window opens: slow_start,
  crash (``trigger: window_start``).

This module imports only the standard library, so validating a scenario
never loads the MCP SDK.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Final, Literal

Layer = Literal["call", "transport", "lifecycle"]
LatencyDistribution = Literal["uniform", "pareto", "lognormal"]
CrashTrigger = Literal["call", "window_start"]
MalformedMode = Literal["not_json", "wrong_shape"]

DEFAULT_ERROR_MESSAGE: Final = "injected fault: error"
DEFAULT_JSONRPC_ERROR_CODE: Final = -32603  # JSON-RPC "Internal error"
DEFAULT_JSONRPC_ERROR_MESSAGE: Final = "injected fault: jsonrpc_error"
DEFAULT_CRASH_EXIT_CODE: Final = 1
DEFAULT_RETRY_AFTER_S: Final = 1
HTTP_STATUSES: Final = (429, 503)
MAX_SIZE_BYTES: Final = 256 * 1024 * 1024

KNOWN_FAULT_KINDS: Final = (
    "latency",
    "error",
    "jsonrpc_error",
    "hang",
    "crash",
    "slow_start",
    "flapping",
    "malformed",
    "oversized",
    "drop_mid_response",
    "http_status",
)
HTTP_ONLY_KINDS: Final = frozenset({"http_status"})


def _check_common(probability: float, tools: tuple[str, ...]) -> None:
    if not 0.0 <= probability <= 1.0:
        raise ValueError(f"probability must be in [0, 1], got {probability!r}")
    if any(not name for name in tools):
        raise ValueError(f"tool names must be non-empty, got {tools!r}")


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(
            f"{name} must be a finite number of seconds {'> 0' if positive else '>= 0'}, got {value!r}"
        )


class _FaultBase:
    """What every fault kind shares: ``probability`` and ``tools`` checked at construction,
    and ``layer`` (where it acts, see the module docstring) from ``_layer`` unless a kind
    decides it from its fields. A kind's own checks go in ``_check``."""

    probability: float
    tools: tuple[str, ...]
    _layer: ClassVar[Layer] = "call"

    def __post_init__(self) -> None:
        self._check()
        _check_common(self.probability, self.tools)

    def _check(self) -> None:
        """A kind's own field checks (none by default)."""

    @property
    def layer(self) -> Layer:
        """Where the fault acts (see the module docstring)."""
        return self._layer


@dataclass(frozen=True)
class LatencyFault(_FaultBase):
    """Delay a tool call before the tool runs; the delay always lies in [min_s, max_s].

    `distribution` ``uniform`` draws from [min_s, max_s] (fixed when they are
    equal); ``pareto`` is ``min_s * paretovariate(alpha)`` and ``lognormal`` is
    ``lognormvariate(ln(median_s), sigma)`` raised to at least `min_s`, both
    capped at `max_s`.
    Raises ValueError on construction when the parameters do not fit the distribution.
    """

    kind: ClassVar[Literal["latency"]] = "latency"

    min_s: float
    max_s: float
    probability: float = 1.0
    tools: tuple[str, ...] = ()
    distribution: LatencyDistribution = "uniform"
    alpha: float = 0.0
    median_s: float = 0.0
    sigma: float = 0.0

    def _check(self) -> None:
        _check_seconds("min_s", self.min_s)
        _check_seconds("max_s", self.max_s)
        if self.max_s < self.min_s:
            raise ValueError(f"need 0 <= min_s <= max_s, got min_s={self.min_s!r} max_s={self.max_s!r}")
        if self.distribution == "pareto":
            if self.min_s <= 0 or not (math.isfinite(self.alpha) and self.alpha > 0):
                raise ValueError(f"pareto needs min_s > 0 and alpha > 0, got {self.min_s!r}, {self.alpha!r}")
        elif self.distribution == "lognormal":
            _check_seconds("median_s", self.median_s, positive=True)
            if not (math.isfinite(self.sigma) and self.sigma >= 0):
                raise ValueError(f"lognormal needs sigma >= 0, got {self.sigma!r}")
        elif self.distribution != "uniform":
            raise ValueError(f"unknown distribution {self.distribution!r}")


@dataclass(frozen=True)
class ErrorFault(_FaultBase):
    """Make a tool call fail: the client gets a result with ``isError=true`` and `message`."""

    kind: ClassVar[Literal["error"]] = "error"

    probability: float = 1.0
    message: str = DEFAULT_ERROR_MESSAGE
    tools: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class JsonRpcErrorFault(_FaultBase):
    """Answer a tool call with a JSON-RPC error (`code`, `message`) instead of a result."""

    kind: ClassVar[Literal["jsonrpc_error"]] = "jsonrpc_error"

    probability: float = 1.0
    tools: tuple[str, ...] = ()
    code: int = DEFAULT_JSONRPC_ERROR_CODE
    message: str = DEFAULT_JSONRPC_ERROR_MESSAGE


@dataclass(frozen=True, kw_only=True)
class HangFault(_FaultBase):
    """Never answer a tool call (the handler waits until the session or process ends)."""

    kind: ClassVar[Literal["hang"]] = "hang"

    probability: float = 1.0
    tools: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class CrashFault(_FaultBase):
    """End the server process with `exit_code`, at a tool call or when its window opens.

    ``trigger: call``: a call it fires on ends the process before answering.
    ``trigger: window_start``: the process exits when the window opens; a
    process started while the window is open exits at once. `tools` only
    applies to ``trigger: call``.
    """

    kind: ClassVar[Literal["crash"]] = "crash"

    probability: float = 1.0
    tools: tuple[str, ...] = ()
    exit_code: int = DEFAULT_CRASH_EXIT_CODE
    trigger: CrashTrigger = "call"

    def _check(self) -> None:
        if not 0 <= self.exit_code <= 255:
            raise ValueError(f"exit_code must be in 0..255, got {self.exit_code!r}")
        if self.trigger not in ("call", "window_start"):
            raise ValueError(f"unknown trigger {self.trigger!r}")
        if self.trigger == "window_start" and self.tools:
            raise ValueError("tools apply only to trigger 'call'")

    @property
    def layer(self) -> Layer:
        """Where the fault acts (see the module docstring)."""
        return "call" if self.trigger == "call" else "lifecycle"


@dataclass(frozen=True, kw_only=True)
class SlowStartFault(_FaultBase):
    """Hold every request for `delay_s` after the process starts (initialize answers late).

    Over HTTP ``GET /healthz`` answers 503 until then. Applies to a process
    that starts while the fault is active; it has no `tools`.
    """

    kind: ClassVar[Literal["slow_start"]] = "slow_start"

    delay_s: float
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def _check(self) -> None:
        _check_seconds("delay_s", self.delay_s)
        if self.tools:
            raise ValueError("slow_start has no tools: it holds the whole server")

    _layer: ClassVar[Layer] = "lifecycle"


@dataclass(frozen=True, kw_only=True)
class FlappingFault(_FaultBase):
    """Alternate `up_s` seconds up and `down_s` seconds down, starting up.

    Phases count from the window's start (for a static fault, from the run
    start), so every process sees the same phases. While down, HTTP answers
    503 with Retry-After and stdio answers a JSON-RPC error.
    """

    kind: ClassVar[Literal["flapping"]] = "flapping"

    up_s: float
    down_s: float
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def _check(self) -> None:
        _check_seconds("up_s", self.up_s, positive=True)
        _check_seconds("down_s", self.down_s, positive=True)

    _layer: ClassVar[Layer] = "transport"


@dataclass(frozen=True, kw_only=True)
class MalformedFault(_FaultBase):
    """Answer with something that is not a valid response.

    ``not_json``: bytes that are not JSON-RPC at all, in place of the response.
    ``wrong_shape``: a well-formed JSON-RPC response whose result is not a
    tool result (``content`` is a string).
    """

    kind: ClassVar[Literal["malformed"]] = "malformed"

    mode: MalformedMode
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def _check(self) -> None:
        if self.mode not in ("not_json", "wrong_shape"):
            raise ValueError(f"unknown mode {self.mode!r}")

    @property
    def layer(self) -> Layer:
        """Where the fault acts (see the module docstring)."""
        return "transport" if self.mode == "not_json" else "call"


@dataclass(frozen=True, kw_only=True)
class OversizedFault(_FaultBase):
    """Add a text block of `size_bytes` characters to a tool result."""

    kind: ClassVar[Literal["oversized"]] = "oversized"

    size_bytes: int
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def _check(self) -> None:
        if not 1 <= self.size_bytes <= MAX_SIZE_BYTES:
            raise ValueError(f"size_bytes must be in 1..{MAX_SIZE_BYTES}, got {self.size_bytes!r}")


@dataclass(frozen=True, kw_only=True)
class DropMidResponseFault(_FaultBase):
    """Cut the connection partway through the response.

    HTTP: the status, headers and half the body are sent, then the
    connection closes. stdio: half the response line is written, then the
    process exits with code 1.
    """

    kind: ClassVar[Literal["drop_mid_response"]] = "drop_mid_response"

    probability: float = 1.0
    tools: tuple[str, ...] = ()

    _layer: ClassVar[Layer] = "transport"


@dataclass(frozen=True, kw_only=True)
class HttpStatusFault(_FaultBase):
    """Refuse a request with HTTP `status` (429 or 503) and ``Retry-After: retry_after_s``. HTTP only."""

    kind: ClassVar[Literal["http_status"]] = "http_status"

    status: int
    retry_after_s: int = DEFAULT_RETRY_AFTER_S
    probability: float = 1.0
    tools: tuple[str, ...] = ()

    def _check(self) -> None:
        if self.status not in HTTP_STATUSES:
            raise ValueError(f"status must be one of {HTTP_STATUSES}, got {self.status!r}")
        if self.retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {self.retry_after_s!r}")

    _layer: ClassVar[Layer] = "transport"


Fault = (
    LatencyFault
    | ErrorFault
    | JsonRpcErrorFault
    | HangFault
    | CrashFault
    | SlowStartFault
    | FlappingFault
    | MalformedFault
    | OversizedFault
    | DropMidResponseFault
    | HttpStatusFault
)


def targets(fault: Fault, tool: str | None) -> bool:
    """Whether `fault` applies to a call of `tool`; ``None`` is a request that is not a tool call.

    An empty `tools` targets everything, including requests that are not
    tool calls (initialize, tools/list) at the transport layer.
    """
    if not fault.tools:
        return True
    return tool is not None and tool in fault.tools

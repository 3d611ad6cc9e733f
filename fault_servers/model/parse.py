"""Parsing one fault (a mapping with a ``kind``) into its typed dataclass.

Every problem is a FaultConfigError naming the source, the key path (e.g.
``timeline[2].fault.probability``) and what was expected there. Unknown keys
are errors, as are booleans where numbers belong and non-finite numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from fault_servers.errors import FaultConfigError
from fault_servers.model.kinds import (
    DEFAULT_CRASH_EXIT_CODE,
    DEFAULT_ERROR_MESSAGE,
    DEFAULT_JSONRPC_ERROR_CODE,
    DEFAULT_JSONRPC_ERROR_MESSAGE,
    DEFAULT_RETRY_AFTER_S,
    HTTP_STATUSES,
    KNOWN_FAULT_KINDS,
    MAX_SIZE_BYTES,
    CrashFault,
    CrashTrigger,
    DropMidResponseFault,
    ErrorFault,
    Fault,
    FlappingFault,
    HangFault,
    HttpStatusFault,
    JsonRpcErrorFault,
    LatencyFault,
    MalformedFault,
    MalformedMode,
    OversizedFault,
    SlowStartFault,
)

Item = Mapping[object, object]

_COMMON: Final = ("kind", "probability", "tools")
_LATENCY_KEYS: Final = (*_COMMON, "delay_s", "min_s", "max_s", "distribution", "alpha", "median_s", "sigma")
_KEYS_BY_KIND: Final[Mapping[str, tuple[str, ...]]] = {
    "latency": _LATENCY_KEYS,
    "error": (*_COMMON, "message"),
    "jsonrpc_error": (*_COMMON, "code", "message"),
    "hang": _COMMON,
    "crash": (*_COMMON, "exit_code", "trigger"),
    "slow_start": ("kind", "delay_s", "probability"),
    "flapping": (*_COMMON, "up_s", "down_s"),
    "malformed": (*_COMMON, "mode"),
    "oversized": (*_COMMON, "size_bytes"),
    "drop_mid_response": _COMMON,
    "http_status": (*_COMMON, "status", "retry_after_s"),
}
_DISTRIBUTION_KEYS: Final[Mapping[str, tuple[str, ...]]] = {
    "fixed": ("delay_s",),
    "uniform": ("min_s", "max_s"),
    "pareto": ("min_s", "alpha", "max_s"),
    "lognormal": ("median_s", "sigma", "min_s", "max_s"),
}


def parse_fault(item: object, source: str, path: str, *, in_timeline: bool) -> Fault:
    """Validate one fault mapping found at `path` in `source`.

    `in_timeline` picks the default crash trigger: ``window_start`` on the
    timeline, ``call`` among static faults. Raises FaultConfigError.
    """
    if not isinstance(item, Mapping):
        raise FaultConfigError(source, path, f"expected a mapping with a 'kind' key, got {describe(item)}")
    kinds = ", ".join(repr(k) for k in KNOWN_FAULT_KINDS)
    kind = item.get("kind")
    if kind is None:
        raise FaultConfigError(source, f"{path}.kind", f"required; expected one of {kinds}")
    if not isinstance(kind, str) or kind not in _KEYS_BY_KIND:
        raise FaultConfigError(source, f"{path}.kind", f"unknown kind {kind!r}; expected one of {kinds}")
    reject_unknown_keys(item, _KEYS_BY_KIND[kind], source, f"{path}.")
    p = _Reader(item, source, path)
    probability = p.probability()
    tools = p.tools()
    match kind:
        case "latency":
            return _latency(p, probability, tools)
        case "error":
            return ErrorFault(
                probability=probability, message=p.text("message", DEFAULT_ERROR_MESSAGE), tools=tools
            )
        case "jsonrpc_error":
            code = p.integer(
                "code", DEFAULT_JSONRPC_ERROR_CODE, "an integer JSON-RPC error code", lambda _: True
            )
            message = p.text("message", DEFAULT_JSONRPC_ERROR_MESSAGE)
            return JsonRpcErrorFault(probability=probability, tools=tools, code=code, message=message)
        case "hang":
            return HangFault(probability=probability, tools=tools)
        case "crash":
            default_trigger = "window_start" if in_timeline else "call"
            trigger: CrashTrigger = (
                "call"
                if p.choice("trigger", ("call", "window_start"), default_trigger) == "call"
                else "window_start"
            )
            if trigger == "window_start" and tools:
                raise FaultConfigError(source, f"{path}.tools", "only with trigger: call; expected no tools")
            exit_code = p.integer("exit_code", DEFAULT_CRASH_EXIT_CODE, "an exit code in 0..255", _in(0, 255))
            return CrashFault(probability=probability, tools=tools, exit_code=exit_code, trigger=trigger)
        case "slow_start":
            return SlowStartFault(delay_s=p.seconds("delay_s"), probability=probability)
        case "flapping":
            return FlappingFault(
                up_s=p.seconds("up_s", positive=True),
                down_s=p.seconds("down_s", positive=True),
                probability=probability,
                tools=tools,
            )
        case "malformed":
            mode: MalformedMode = (
                "not_json"
                if p.choice("mode", ("not_json", "wrong_shape"), None) == "not_json"
                else "wrong_shape"
            )
            return MalformedFault(mode=mode, probability=probability, tools=tools)
        case "oversized":
            size = p.integer("size_bytes", None, f"an integer in 1..{MAX_SIZE_BYTES}", _in(1, MAX_SIZE_BYTES))
            return OversizedFault(size_bytes=size, probability=probability, tools=tools)
        case "drop_mid_response":
            return DropMidResponseFault(probability=probability, tools=tools)
        case _:  # http_status
            status = p.integer(
                "status", None, " or ".join(map(str, HTTP_STATUSES)), HTTP_STATUSES.__contains__
            )
            retry_after_s = p.integer(
                "retry_after_s", DEFAULT_RETRY_AFTER_S, "whole seconds >= 0", _in(0, None)
            )
            return HttpStatusFault(
                status=status, retry_after_s=retry_after_s, probability=probability, tools=tools
            )


def _latency(p: _Reader, probability: float, tools: tuple[str, ...]) -> LatencyFault:
    distribution = p.optional_choice("distribution", tuple(_DISTRIBUTION_KEYS))
    used = {key for keys in _DISTRIBUTION_KEYS.values() for key in keys if key in p.item}
    allowed = _DISTRIBUTION_KEYS[distribution] if distribution is not None else ("delay_s", "min_s", "max_s")
    for key in sorted(used - set(allowed)):
        named = distribution or "fixed or uniform (the default)"
        raise FaultConfigError(
            p.source, f"{p.path}.{key}", f"not used by distribution {named}; expected {', '.join(allowed)}"
        )
    if distribution == "pareto":
        min_s = p.seconds("min_s", positive=True)
        alpha = p.number("alpha", "a number > 0")
        if alpha <= 0:
            raise FaultConfigError(p.source, f"{p.path}.alpha", f"expected a number > 0, got {alpha}")
        max_s = p.cap(min_s)
        return LatencyFault(min_s, max_s, probability, tools, "pareto", alpha=alpha)
    if distribution == "lognormal":
        median_s = p.seconds("median_s", positive=True)
        sigma = p.number("sigma", "a number >= 0")
        if sigma < 0:
            raise FaultConfigError(p.source, f"{p.path}.sigma", f"expected a number >= 0, got {sigma}")
        min_s = p.seconds("min_s") if "min_s" in p.item else 0.0
        max_s = p.cap(min_s)
        return LatencyFault(min_s, max_s, probability, tools, "lognormal", median_s=median_s, sigma=sigma)
    min_s, max_s = _delay_bounds(p, distribution)
    return LatencyFault(min_s=min_s, max_s=max_s, probability=probability, tools=tools)


def _delay_bounds(p: _Reader, distribution: str | None) -> tuple[float, float]:
    has_fixed = "delay_s" in p.item
    has_min, has_max = "min_s" in p.item, "max_s" in p.item
    if has_fixed and (has_min or has_max):
        raise FaultConfigError(p.source, p.path, "expected either delay_s or min_s + max_s, not both")
    if has_fixed:
        delay_s = p.seconds("delay_s")
        return delay_s, delay_s
    if not has_min and not has_max:
        expected = {"fixed": "delay_s", "uniform": "min_s + max_s"}.get(
            distribution or "", "delay_s (fixed) or min_s + max_s (uniform)"
        )
        raise FaultConfigError(p.source, p.path, f"expected a delay: {expected}")
    if not has_max:
        raise FaultConfigError(p.source, f"{p.path}.max_s", "required with min_s; expected seconds >= min_s")
    if not has_min:
        raise FaultConfigError(p.source, f"{p.path}.min_s", "required with max_s; expected seconds >= 0")
    min_s = p.seconds("min_s")
    return min_s, p.cap(min_s)


def _in(low: int, high: int | None) -> Callable[[int], bool]:
    return lambda value: low <= value and (high is None or value <= high)


class _Reader:
    """Reads typed values from one fault mapping, raising FaultConfigError with the key path."""

    def __init__(self, item: Item, source: str, path: str) -> None:
        self.item = item
        self.source = source
        self.path = path

    def fail(self, key: str, problem: str) -> FaultConfigError:
        return FaultConfigError(self.source, f"{self.path}.{key}", problem)

    def required(self, key: str, expected: str) -> object:
        if key not in self.item:
            raise self.fail(key, f"required; expected {expected}")
        return self.item[key]

    def number(self, key: str, expected: str) -> float:
        return number(self.required(key, expected), self.source, f"{self.path}.{key}", expected)

    def seconds(self, key: str, *, positive: bool = False) -> float:
        expected = "seconds > 0" if positive else "seconds >= 0"
        value = self.number(key, expected)
        if value < 0 or (positive and value == 0):
            raise self.fail(key, f"expected {expected}, got {value}")
        return value

    def cap(self, min_s: float) -> float:
        max_s = self.seconds("max_s")
        if max_s < min_s:
            raise self.fail("max_s", f"expected seconds >= min_s ({min_s}), got {max_s}")
        return max_s

    def probability(self) -> float:
        if "probability" not in self.item:
            return 1.0
        value = self.number("probability", "a number in [0, 1]")
        if not 0.0 <= value <= 1.0:
            raise self.fail("probability", f"expected a number in [0, 1], got {value}")
        return value

    def integer(self, key: str, default: int | None, expected: str, ok: Callable[[int], bool]) -> int:
        if default is not None and key not in self.item:
            return default
        value = self.required(key, expected)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not ok(value):
            raise self.fail(key, f"expected {expected}, got {describe(value)}")
        return value

    def text(self, key: str, default: str) -> str:
        value = self.item.get(key, default)
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {describe(value)}")
        return value

    def optional_choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        if key not in self.item:
            return None
        value = self.item[key]
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(key, f"expected {' or '.join(allowed)}, got {describe(value)}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...], default: str | None) -> str:
        value = self.optional_choice(key, allowed)
        if value is not None:
            return value
        if default is None:
            raise self.fail(key, f"required; expected {' or '.join(allowed)}")
        return default

    def tools(self) -> tuple[str, ...]:
        value = self.item.get("tools")
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail("tools", f"expected a list of tool names, got {describe(value)}")
        names: list[str] = []
        for j, name in enumerate(value):
            if not isinstance(name, str) or not name:
                raise self.fail(f"tools[{j}]", f"expected a non-empty tool name, got {describe(name)}")
            if name not in names:
                names.append(name)
        return tuple(names)


def number(value: object, source: str, path: str, expected: str) -> float:
    """`value` as a finite float; booleans (``probability: yes``) are mistakes, not 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(source, path, f"expected {expected}, got {describe(value)}")
    result = float(value)
    if not math.isfinite(result):
        raise FaultConfigError(source, path, f"expected {expected}, got {result}")
    return result


def reject_unknown_keys(data: Item, allowed: tuple[str, ...], source: str, prefix: str) -> None:
    """Raise FaultConfigError at the first key of `data` not in `allowed`."""
    for key in data:
        if key not in allowed:
            raise FaultConfigError(
                source, f"{prefix}{key}", f"unknown key; expected one of {', '.join(allowed)}"
            )


def describe(value: object) -> str:
    """Describe a value for an error message: its YAML-ish type and, if short, the value."""
    if value is None:
        return "nothing (null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    name = names.get(type(value), "a mapping" if isinstance(value, Mapping) else type(value).__name__)
    text = repr(value)
    return f"{name} {text}" if len(text) <= 40 else name

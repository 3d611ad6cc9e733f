"""Reading fault files into a `FaultPlan`.

Format (YAML, or JSON when the file name ends in ``.json``)::

    faults:
      - kind: latency            # delay before the tool runs
        delay_s: 0.2             # fixed delay; OR min_s + max_s for a uniform one
        probability: 1.0         # share of calls affected, in [0, 1]; default 1.0
        tools: [get_forecast]    # omitted, null or empty: every tool
      - kind: error              # the tool call returns isError=true
        probability: 0.1
        message: injected failure  # default "injected fault: error"

Unknown keys and unknown kinds are errors, as are negative delays, a latency
fault with both or neither delay form, and non-finite or boolean numbers.
Every error is a FaultConfigError naming the source, the key path
(``faults[1].probability``) and what was expected.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import yaml

from fault_servers.errors import FaultConfigError
from fault_servers.faults import DEFAULT_ERROR_MESSAGE, ErrorFault, Fault, FaultPlan, LatencyFault

_TOP_LEVEL_KEYS: Final = ("faults",)
_KEYS_BY_KIND: Final[Mapping[str, tuple[str, ...]]] = {
    "latency": ("kind", "delay_s", "min_s", "max_s", "probability", "tools"),
    "error": ("kind", "probability", "message", "tools"),
}


def load_fault_file(path: str | os.PathLike[str]) -> FaultPlan:
    """Read and validate the fault file at `path`.

    Raises FaultConfigError when the file cannot be read, is not valid
    YAML/JSON, or does not describe valid faults.
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise FaultConfigError(
            source, "(file)", f"cannot read the fault file: {exc.strerror or exc}"
        ) from exc
    try:
        data: object = json.loads(text) if source.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise FaultConfigError(source, "(file)", f"expected valid JSON; {exc.msg} at {where}") from exc
    except yaml.YAMLError as exc:
        raise FaultConfigError(source, "(file)", f"expected valid YAML; {_one_line(exc)}") from exc
    return parse_faults(data, source)


def parse_faults(data: object, source: str) -> FaultPlan:
    """Validate already-decoded fault data (a mapping with a ``faults`` list).

    `source` names where the data came from in error messages. Raises
    FaultConfigError on the first problem found.
    """
    if not isinstance(data, Mapping):
        raise FaultConfigError(
            source, "(top level)", f"expected a mapping with a 'faults' list, got {_kind(data)}"
        )
    _reject_unknown_keys(data, _TOP_LEVEL_KEYS, source, "")
    if "faults" not in data:
        raise FaultConfigError(source, "faults", "required; expected a list of faults (it may be empty)")
    items = data["faults"]
    if not isinstance(items, list):
        raise FaultConfigError(source, "faults", f"expected a list of faults, got {_kind(items)}")
    faults = tuple(_parse_fault(item, source, f"faults[{i}]") for i, item in enumerate(items))
    return FaultPlan(faults=faults, source=source)


def _parse_fault(item: object, source: str, path: str) -> Fault:
    if not isinstance(item, Mapping):
        raise FaultConfigError(source, path, f"expected a mapping with a 'kind' key, got {_kind(item)}")
    kinds = ", ".join(repr(k) for k in sorted(_KEYS_BY_KIND))
    kind = item.get("kind")
    if kind is None:
        raise FaultConfigError(source, f"{path}.kind", f"required; expected one of {kinds}")
    if not isinstance(kind, str) or kind not in _KEYS_BY_KIND:
        raise FaultConfigError(source, f"{path}.kind", f"unknown kind {kind!r}; expected one of {kinds}")
    _reject_unknown_keys(item, _KEYS_BY_KIND[kind], source, f"{path}.")
    probability = _probability(item, source, path)
    tools = _tools(item, source, path)
    if kind == "latency":
        min_s, max_s = _delay_bounds(item, source, path)
        return LatencyFault(min_s=min_s, max_s=max_s, probability=probability, tools=tools)
    message = item.get("message", DEFAULT_ERROR_MESSAGE)
    if not isinstance(message, str) or not message:
        raise FaultConfigError(
            source, f"{path}.message", f"expected a non-empty string, got {_kind(message)}"
        )
    return ErrorFault(probability=probability, message=message, tools=tools)


def _delay_bounds(item: Mapping[object, object], source: str, path: str) -> tuple[float, float]:
    has_fixed = "delay_s" in item
    has_min, has_max = "min_s" in item, "max_s" in item
    if has_fixed and (has_min or has_max):
        raise FaultConfigError(source, path, "expected either delay_s or min_s + max_s, not both")
    if has_fixed:
        delay_s = _seconds(item["delay_s"], source, f"{path}.delay_s")
        return delay_s, delay_s
    if not has_min and not has_max:
        raise FaultConfigError(source, path, "expected a delay: delay_s (fixed) or min_s + max_s (uniform)")
    if not has_max:
        raise FaultConfigError(source, f"{path}.max_s", "required with min_s; expected seconds >= min_s")
    if not has_min:
        raise FaultConfigError(source, f"{path}.min_s", "required with max_s; expected seconds >= 0")
    min_s = _seconds(item["min_s"], source, f"{path}.min_s")
    max_s = _seconds(item["max_s"], source, f"{path}.max_s")
    if max_s < min_s:
        raise FaultConfigError(source, f"{path}.max_s", f"expected seconds >= min_s ({min_s}), got {max_s}")
    return min_s, max_s


def _probability(item: Mapping[object, object], source: str, path: str) -> float:
    if "probability" not in item:
        return 1.0
    value = _number(item["probability"], source, f"{path}.probability", "a number in [0, 1]")
    if not 0.0 <= value <= 1.0:
        raise FaultConfigError(source, f"{path}.probability", f"expected a number in [0, 1], got {value}")
    return value


def _tools(item: Mapping[object, object], source: str, path: str) -> tuple[str, ...]:
    value = item.get("tools")
    if value is None:
        return ()
    if not isinstance(value, list):
        raise FaultConfigError(source, f"{path}.tools", f"expected a list of tool names, got {_kind(value)}")
    names: list[str] = []
    for j, name in enumerate(value):
        if not isinstance(name, str) or not name:
            raise FaultConfigError(
                source, f"{path}.tools[{j}]", f"expected a non-empty tool name, got {_kind(name)}"
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def _seconds(value: object, source: str, path: str) -> float:
    seconds = _number(value, source, path, "seconds >= 0")
    if seconds < 0:
        raise FaultConfigError(source, path, f"expected seconds >= 0, got {seconds}")
    return seconds


def _number(value: object, source: str, path: str, expected: str) -> float:
    # bool is an int subclass; `probability: yes` is a mistake, not 1.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise FaultConfigError(source, path, f"expected {expected}, got {_kind(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise FaultConfigError(source, path, f"expected {expected}, got {number}")
    return number


def _reject_unknown_keys(
    data: Mapping[object, object], allowed: tuple[str, ...], source: str, prefix: str
) -> None:
    for key in data:
        if key not in allowed:
            raise FaultConfigError(
                source, f"{prefix}{key}", f"unknown key; expected one of {', '.join(allowed)}"
            )


def _kind(value: object) -> str:
    """Describe a value for an error message: its YAML-ish type and, if short, the value."""
    if value is None:
        return "nothing (null)"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    name = names.get(type(value), "a mapping" if isinstance(value, Mapping) else type(value).__name__)
    text = repr(value)
    return f"{name} {text}" if len(text) <= 40 else name


def _one_line(exc: yaml.YAMLError) -> str:
    return " ".join(str(exc).split())

"""Reading fault files into a `FaultPlan`.

Format (YAML, or JSON when the file name ends in ``.json``)::

    faults:                      # static: active for the whole life of the process
      - kind: latency
        delay_s: 0.2             # fixed; or min_s + max_s (uniform); or a heavy tail
        probability: 1.0         # share of calls affected, in [0, 1]; default 1.0
        tools: [get_forecast]    # omitted, null or empty: every tool
      - {kind: error, probability: 0.1, message: injected failure}
    timeline:                    # windows at offsets from the run start (--run-start)
      - {at_s: 10, for_s: 20, fault: {kind: jsonrpc_error, probability: 0.5}}
      - {at_s: 40, fault: {kind: crash, exit_code: 3}}   # for_s omitted: until the end

Every kind and its parameters are in `fault_servers.model.kinds` and the
README ("Fault kinds"). At least one of ``faults`` and ``timeline`` must be
present. Unknown keys and kinds are errors; every error is a FaultConfigError
naming the source, the key path (``timeline[1].fault.probability``) and what
was expected. Parsing imports neither the MCP SDK nor anything that starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import yaml

from fault_servers.errors import FaultConfigError
from fault_servers.model.parse import describe, number, parse_fault, reject_unknown_keys
from fault_servers.model.plan import FaultPlan, TimelineWindow

_TOP_LEVEL_KEYS: Final = ("faults", "timeline")
_WINDOW_KEYS: Final = ("at_s", "for_s", "fault")


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
        raise FaultConfigError(
            source, "(file)", f"expected valid YAML; {' '.join(str(exc).split())}"
        ) from exc
    return parse_faults(data, source)


def parse_faults(data: object, source: str) -> FaultPlan:
    """Validate already-decoded fault data (a mapping with a ``faults`` and/or ``timeline`` list).

    `source` names where the data came from in error messages. Raises
    FaultConfigError on the first problem found. Pure: no I/O, no imports of
    the server side.
    """
    if not isinstance(data, Mapping):
        raise FaultConfigError(
            source, "(top level)", f"expected a mapping with a 'faults' list, got {describe(data)}"
        )
    reject_unknown_keys(data, _TOP_LEVEL_KEYS, source, "")
    if "faults" not in data and "timeline" not in data:
        raise FaultConfigError(
            source, "faults", "required; expected a list of faults (it may be empty) and/or a 'timeline' list"
        )
    items = _list(data, "faults", source, "a list of faults")
    faults = tuple(
        parse_fault(item, source, f"faults[{i}]", in_timeline=False) for i, item in enumerate(items)
    )
    windows = _list(data, "timeline", source, "a list of windows ({at_s, for_s, fault})")
    timeline = tuple(_parse_window(item, source, f"timeline[{i}]") for i, item in enumerate(windows))
    return FaultPlan(faults=faults, source=source, timeline=timeline)


def _list(data: Mapping[object, object], key: str, source: str, expected: str) -> list[object]:
    value = data.get(key)
    if value is None and key not in data:
        return []
    if not isinstance(value, list):
        raise FaultConfigError(source, key, f"expected {expected}, got {describe(value)}")
    return value


def _parse_window(item: object, source: str, path: str) -> TimelineWindow:
    if not isinstance(item, Mapping):
        raise FaultConfigError(
            source, path, f"expected a mapping with at_s, fault and optionally for_s, got {describe(item)}"
        )
    reject_unknown_keys(item, _WINDOW_KEYS, source, f"{path}.")
    at_s = _offset(item, "at_s", source, path)
    if at_s is None:
        raise FaultConfigError(source, f"{path}.at_s", "required; expected seconds >= 0 after the run start")
    for_s = _offset(item, "for_s", source, path)
    if "fault" not in item:
        raise FaultConfigError(source, f"{path}.fault", "required; expected a fault mapping with a 'kind'")
    fault = parse_fault(item["fault"], source, f"{path}.fault", in_timeline=True)
    return TimelineWindow(at_s=at_s, fault=fault, for_s=for_s)


def _offset(item: Mapping[object, object], key: str, source: str, path: str) -> float | None:
    if item.get(key) is None:
        return None
    seconds = number(item[key], source, f"{path}.{key}", "seconds >= 0")
    if seconds < 0:
        raise FaultConfigError(source, f"{path}.{key}", f"expected seconds >= 0, got {seconds}")
    return seconds

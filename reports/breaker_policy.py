"""The breaker's documented semantics, re-stated for replaying a run's logs.

``reports`` never imports the harness, so this module re-derives from
``docs/resilience.md`` (and the resolved ``scenario.yaml``) what each server's
breaker was configured to do, and answers, for a sequence of outcomes, when
the trip policy opens a closed breaker and how it rules on half-open probes.

Configuration (:func:`breaker_specs`): ``system.manager.breaker`` for every
server, replaced by ``system.servers.<name>.breaker`` when given; a server that
sets ``timeout_s`` or ``retries`` and no ``breaker`` gets the seeds' derivation
(consecutive policy: ``failure_threshold = retries + 2`` and
``recovery_timeout_s = 2 × timeout_s``; sliding window: only the recovery
timeout), with ``timeout_s`` defaulting to the manager's ``call_timeout_s`` and
``retries`` to the manager's ``retry.max_attempts - 1``. Missing keys take the
scenario schema's defaults.

Replays (:func:`closed_trips`, :func:`probe_verdict`) take the counted outcomes
of one state period, in the order the breaker recorded them. A time window
counts calls in 1-second buckets of the gateway's *monotonic* clock, whose
sub-second phase against the wall clock is not in the logs; the replay tries
:data:`TIME_WINDOW_PHASES` phases and says the policy *may* have opened when
one phase opens it and *certainly* opened when every phase does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ALL_FAILURE_OUTCOMES",
    "NOT_ADMITTED",
    "TIME_WINDOW_PHASES",
    "BreakerSpec",
    "ProbeVerdict",
    "breaker_specs",
    "closed_trips",
    "describe_closed",
    "probe_verdict",
]

ALL_FAILURE_OUTCOMES = ("tool_error", "transport_error", "timeout")
NOT_ADMITTED = frozenset({"rejected_open", "denied"})
"""Outcomes of calls the breaker (or the gateway before it) never let through."""

TIME_WINDOW_PHASES = 20

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BreakerSpec:
    """One server's breaker configuration, with the scenario schema's defaults.

    Raises:
        ValueError: a value has the wrong type or is out of range (a hand-edited scenario).
    """

    policy: str = "consecutive"
    enabled: bool = True
    failure_outcomes: frozenset[str] = frozenset(ALL_FAILURE_OUTCOMES)
    recovery_timeout_s: float = 10.0
    half_open_max_calls: int = 1
    failure_threshold: int = 5
    success_threshold: int = 1
    window_type: str = "count"
    window_size: int = 50
    minimum_number_of_calls: int = 20
    failure_rate_threshold: float = 50.0
    slow_call_duration_s: float = 60.0
    slow_call_rate_threshold: float = 100.0
    permitted_number_of_calls_in_half_open: int = 5

    def __post_init__(self) -> None:
        if self.policy not in ("consecutive", "sliding_window"):
            raise ValueError(f"breaker policy must be 'consecutive' or 'sliding_window', got {self.policy!r}")
        if self.window_type not in ("count", "time"):
            raise ValueError(f"breaker window_type must be 'count' or 'time', got {self.window_type!r}")
        for name in (
            "half_open_max_calls",
            "failure_threshold",
            "success_threshold",
            "window_size",
            "minimum_number_of_calls",
            "permitted_number_of_calls_in_half_open",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"breaker {name} must be an integer >= 1, got {value!r}")
        for name in (
            "recovery_timeout_s",
            "failure_rate_threshold",
            "slow_call_duration_s",
            "slow_call_rate_threshold",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise ValueError(f"breaker {name} must be a number >= 0, got {value!r}")
        unknown = self.failure_outcomes - set(ALL_FAILURE_OUTCOMES)
        if unknown:
            raise ValueError(
                f"breaker failure_outcomes may only name {ALL_FAILURE_OUTCOMES}, got {sorted(unknown)}"
            )

    @property
    def half_open_permits(self) -> int | None:
        """Probes admitted per half-open period in all (``None``: no limit but the concurrency)."""
        return self.permitted_number_of_calls_in_half_open if self.policy == "sliding_window" else None

    @property
    def slow_s(self) -> float:
        """Calls longer than this are slow; the consecutive policy ignores durations."""
        return self.slow_call_duration_s if self.policy == "sliding_window" else math.inf

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failure_outcomes"] = sorted(self.failure_outcomes)
        if self.policy == "consecutive":
            for key in (
                "window_type",
                "window_size",
                "minimum_number_of_calls",
                "failure_rate_threshold",
                "slow_call_duration_s",
                "slow_call_rate_threshold",
                "permitted_number_of_calls_in_half_open",
            ):
                data.pop(key)
        else:
            data.pop("failure_threshold")
            data.pop("success_threshold")
        return data


_SPEC_KEYS = frozenset(BreakerSpec.__dataclass_fields__)


def breaker_specs(scenario: Mapping[str, Any]) -> tuple[dict[str, BreakerSpec], BreakerSpec]:
    """Each scenario server's breaker spec, and the manager's (for servers the scenario does not name).

    Raises:
        ValueError: a breaker setting is malformed.
    """
    system = _mapping(scenario.get("system"))
    manager = _mapping(system.get("manager"))
    default = _spec(_mapping(manager.get("breaker")))
    call_timeout_s = manager.get("call_timeout_s", 5.0)
    max_attempts = _mapping(manager.get("retry")).get("max_attempts", 1)
    specs: dict[str, BreakerSpec] = {}
    for name, raw in _mapping(system.get("servers")).items():
        server = _mapping(raw)
        if server.get("breaker") is not None:
            specs[str(name)] = _spec(_mapping(server["breaker"]))
            continue
        timeout_s, retries = server.get("timeout_s"), server.get("retries")
        if timeout_s is None and retries is None:
            specs[str(name)] = default
            continue
        timeout = float(timeout_s if timeout_s is not None else call_timeout_s)
        attempts = int(retries) + 1 if retries is not None else int(max_attempts)
        if default.policy == "consecutive":
            specs[str(name)] = replace(
                default, failure_threshold=attempts + 1, recovery_timeout_s=2 * timeout
            )
        else:
            specs[str(name)] = replace(default, recovery_timeout_s=2 * timeout)
    return specs, default


def _spec(settings: Mapping[str, Any]) -> BreakerSpec:
    values = {key: value for key, value in settings.items() if key in _SPEC_KEYS}
    if "failure_outcomes" in values:
        outcomes = values["failure_outcomes"]
        if not isinstance(outcomes, list | tuple | set | frozenset):
            raise ValueError(f"breaker failure_outcomes must be a list, got {outcomes!r}")
        values["failure_outcomes"] = frozenset(str(item) for item in outcomes)
    if "recovery_timeout_s" in values and isinstance(values["recovery_timeout_s"], int):
        values["recovery_timeout_s"] = float(values["recovery_timeout_s"])
    try:
        return BreakerSpec(**values)
    except TypeError as exc:
        raise ValueError(f"malformed breaker settings: {exc}") from exc


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def closed_trips(
    spec: BreakerSpec, ends: FloatArray, failed: BoolArray, slow: BoolArray
) -> tuple[BoolArray, BoolArray]:
    """Where the trip policy opens a CLOSED breaker, over one period's counted outcomes in record order.

    Returns ``(possible, certain)``: for each outcome, whether the policy may have
    opened the breaker on it and whether it certainly did (they differ only for a
    time window, whose clock phase is unknown). Every outcome of the period is
    assumed to have been counted, so only the first ``True`` is a real prediction.
    """
    n = failed.size
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    if spec.policy == "consecutive":
        index = np.arange(n)
        last_success = np.maximum.accumulate(np.where(~failed, index, -1))
        opens = failed & (index - last_success >= spec.failure_threshold)
        return opens, opens
    cum_failed = np.r_[0, np.cumsum(failed)]
    cum_slow = np.r_[0, np.cumsum(slow)]
    stop = np.arange(1, n + 1)
    if spec.window_type == "count":
        start = np.maximum(stop - spec.window_size, 0)
        opens = _rates_open(
            spec, stop - start, cum_failed[stop] - cum_failed[start], cum_slow[stop] - cum_slow[start]
        )
        return opens, opens
    possible = np.zeros(n, dtype=bool)
    certain = np.ones(n, dtype=bool)
    for phase in np.arange(TIME_WINDOW_PHASES) / TIME_WINDOW_PHASES:
        bucket = np.floor(ends + phase)
        start = np.searchsorted(bucket, bucket - spec.window_size + 1, side="left")
        opens = _rates_open(
            spec, stop - start, cum_failed[stop] - cum_failed[start], cum_slow[stop] - cum_slow[start]
        )
        possible |= opens
        certain &= opens
    return possible, certain


def _rates_open(
    spec: BreakerSpec,
    total: npt.NDArray[np.int64],
    failures: npt.NDArray[np.int64],
    slow: npt.NDArray[np.int64],
) -> BoolArray:
    enough = total >= spec.minimum_number_of_calls
    failing = failures * 100.0 >= spec.failure_rate_threshold * total
    slowing = slow * 100.0 >= spec.slow_call_rate_threshold * total
    result: BoolArray = enough & (failing | slowing)
    return result


def describe_closed(spec: BreakerSpec, failed: BoolArray, slow: BoolArray, upto: int) -> str:
    """What the policy's counters held after outcome ``upto`` (0-based) of a closed period, for messages."""
    if upto < 0:
        return "no counted outcome yet"
    if spec.policy == "consecutive":
        run = 0
        for flag in failed[: upto + 1][::-1]:
            if not flag:
                break
            run += 1
        return f"{run} consecutive failure(s) (threshold {spec.failure_threshold})"
    if spec.window_type == "count":
        lo = max(0, upto + 1 - spec.window_size)
        total = upto + 1 - lo
        fails = int(failed[lo : upto + 1].sum())
        slows = int(slow[lo : upto + 1].sum())
        return (
            f"{fails} failed and {slows} slow of the last {total} calls (count window {spec.window_size}, "
            f"minimum {spec.minimum_number_of_calls}, thresholds {spec.failure_rate_threshold:g}% / "
            f"{spec.slow_call_rate_threshold:g}%)"
        )
    return (
        f"{int(failed[: upto + 1].sum())} failed and {int(slow[: upto + 1].sum())} slow of {upto + 1} calls since the "
        f"period began (time window {spec.window_size} s, minimum {spec.minimum_number_of_calls}, thresholds "
        f"{spec.failure_rate_threshold:g}% / {spec.slow_call_rate_threshold:g}%)"
    )


@dataclass(frozen=True)
class ProbeVerdict:
    """How the policy rules on a half-open period: on which probe (0-based, record order), where to, why."""

    index: int
    to_state: str
    why: str


def probe_verdict(spec: BreakerSpec, failed: BoolArray, slow: BoolArray) -> ProbeVerdict | None:
    """The policy's ruling over the counted probes of one half-open period, ``None`` while undecided."""
    if spec.policy == "consecutive":
        for index, flag in enumerate(failed.tolist()):
            if flag:
                return ProbeVerdict(index, "open", "a probe failed in half-open")
            successes = index + 1  # every probe before this one succeeded, or the period had ended
            if successes >= spec.success_threshold:
                return ProbeVerdict(
                    index, "closed", f"{successes} probe(s) succeeded (threshold {spec.success_threshold})"
                )
        return None
    n = spec.permitted_number_of_calls_in_half_open
    fail_bar = spec.failure_rate_threshold * n
    slow_bar = spec.slow_call_rate_threshold * n
    fails = slows = 0
    for index, (flag, is_slow) in enumerate(zip(failed.tolist(), slow.tolist(), strict=True)):
        fails += flag
        slows += is_slow
        if fails * 100.0 >= fail_bar or slows * 100.0 >= slow_bar:
            return ProbeVerdict(index, "open", f"{fails} failed / {slows} slow of {n} permitted probes")
        missing = n - (index + 1)
        if (fails + missing) * 100.0 < fail_bar and (slows + missing) * 100.0 < slow_bar:
            return ProbeVerdict(
                index, "closed", f"{index + 1} of {n} probes judged: rates below the thresholds"
            )
    return None

"""Evaluating a scenario's SLAs against the requests table.

Semantics (``docs/architecture.md``, "SLA semantics"):

- ``latency``: the ``percentile``-th nearest-rank percentile of ``latency_s`` over
  requests whose outcome is not ``dropped`` (optionally only those whose ``name``
  equals the SLA's ``request``) passes when it is ``<= max_s``.
- ``error_rate``: ``(error + timeout) / (ok + error + timeout)`` passes when it is
  ``<= max_ratio``. ``dropped`` requests (cut short by the end of the run, or never
  sent) and unknown outcomes count on neither side. With ``include_dropped``,
  open-model arrivals that could not start (``dropped`` with ``drop_reason``
  ``not_started``) count as errors: ``(error + timeout + not_started) /
  (ok + error + timeout + not_started)``; requests cut short still count nowhere.
  A run with dropped requests but no ``drop_reason`` column (written before the
  column existed) cannot tell the two apart, and the SLA fails saying so.
- ``availability``: ``ok / (ok + error + timeout)`` passes when it is ``>= min_ratio``
  (optionally only requests named ``request``).
- ``sessions_held``: the fewest sessions in flight in any whole second from the end of
  the ramp-up to the end of the load (:mod:`reports.sessions`) passes when it is
  ``>= min_sessions``. Without Locust session samples it fails as "no data".
- ``breaker_opens_within`` (``max_s``, optional ``server``): in every fault window
  targeting the server (any server without ``server``), the breaker opened within
  ``max_s`` of the window's start; measured is the slowest window's
  ``time_to_open_s`` (``reports.recovery``). A window in which it never opened fails.
- ``breaker_closes_within`` (``max_s``, optional ``server``): likewise, the breaker
  closed within ``max_s`` of each such window's end (``time_to_close_s``); a window
  after which it never closed fails, one in which it never opened does not count.
- ``latency``, ``error_rate`` and ``availability`` take an optional ``session_type`` (a
  name or a list of names): only requests of those session types count.
- ``rejections`` (``session_type``, ``statuses`` default ``[401, 403]``, and one of
  ``min_ratio`` / ``max_ratio``): the share of answered requests (``ok``, ``error``,
  ``timeout``) of those session types whose HTTP ``status`` is one of ``statuses``;
  passes when ``>= min_ratio`` (forged sessions are refused) or ``<= max_ratio``
  (valid ones are not).
- ``rss_growth`` (``process`` glob, ``max_mib``, ``settle_s`` default 0, ``window_s``
  default 60): for each process matching ``process`` in the ``samples`` table, the
  median RSS of its last ``window_s`` seconds minus that of its first, from the end of
  the warm-up plus ``settle_s`` to the end of the load (:mod:`reports.memory`); the
  largest growth passes when it is ``<= max_mib``.
- An SLA with no data fails, saying so.

The requests given are the measured ones: the caller has already left out the
warm-up (:mod:`reports.warmup`). ``comparison`` says which way a threshold points
(``<=`` for latency and error rate, ``>=`` for availability and sessions).

The harness validates SLAs before a run, but a report may be rendered from an
older or hand-edited run directory, so an SLA this module cannot evaluate (an
unknown ``kind``, a missing field) becomes a failed result with a detail that
says why, never an exception: one odd SLA must not hide the verdict on the rest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from reports.memory import SampleWindow, rss_growth
from reports.percentiles import is_finite_number, percentile
from reports.sessions import SessionsHeld

__all__ = [
    "NO_DATA",
    "STEP_KINDS",
    "SlaResult",
    "count_not_started",
    "error_counts",
    "evaluate_sla",
    "evaluate_slas",
    "format_threshold",
    "format_value",
    "session_types_of",
]

NO_DATA = "no requests recorded"

_ERROR_OUTCOMES = ("error", "timeout")
_BREAKER_KINDS = {
    "breaker_opens_within": ("time_to_open_s", "open"),
    "breaker_closes_within": ("time_to_close_s", "close"),
}
_COUNTED_OUTCOMES = ("ok", *_ERROR_OUTCOMES)

STEP_KINDS = frozenset({"latency", "error_rate", "availability"})
"""The SLA kinds measured on requests alone, which a capacity search evaluates per step."""


@dataclass(frozen=True)
class SlaResult:
    """The outcome of one SLA: what was measured against what threshold, and why it passed or not.

    ``unit`` is ``"s"`` for latency, ``"ratio"`` for error rates and availability,
    ``"sessions"`` for sessions held and ``""`` when the SLA could not be evaluated;
    ``measured`` is ``None`` when there was no data. ``comparison`` is ``"<="`` when
    the measured value must stay at or under the threshold, ``">="`` at or over it.
    """

    name: str
    kind: str
    passed: bool
    measured: float | None
    threshold: float | None
    unit: str
    detail: str
    comparison: str = "<="

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-ready dict (the shape used in ``summary.json``)."""
        return asdict(self)


def evaluate_slas(
    slas: Sequence[Mapping[str, Any]] | None,
    requests: pd.DataFrame,
    fault_windows: Sequence[Mapping[str, Any]] = (),
    sessions: SessionsHeld | None = None,
    memory: SampleWindow | None = None,
) -> list[SlaResult]:
    """Evaluate every SLA, in order. ``None`` or an empty list gives no results.

    ``fault_windows`` are the run's fault windows with their breaker figures (the
    ``breaker_recovery`` entries of ``summary.json``), for the breaker SLAs;
    ``sessions`` the sessions held after the ramp-up, for ``sessions_held``;
    ``memory`` the samples and the measured window, for ``rss_growth``.
    """
    return [
        evaluate_sla(sla, requests, index, fault_windows, sessions, memory)
        for index, sla in enumerate(slas or [])
    ]


def evaluate_sla(
    sla: Mapping[str, Any],
    requests: pd.DataFrame,
    index: int = 0,
    fault_windows: Sequence[Mapping[str, Any]] = (),
    sessions: SessionsHeld | None = None,
    memory: SampleWindow | None = None,
) -> SlaResult:
    """Evaluate one SLA against the requests table (see the module docstring for semantics)."""
    if not isinstance(sla, Mapping):
        return SlaResult(f"sla #{index + 1}", "", False, None, None, "", f"invalid SLA: {sla!r}")
    name = str(sla.get("name") or f"sla #{index + 1}")
    kind = str(sla.get("kind", ""))
    if kind == "latency":
        return _evaluate_latency(name, sla, requests)
    if kind == "error_rate":
        return _evaluate_error_rate(name, sla, requests)
    if kind == "availability":
        return _evaluate_availability(name, sla, requests)
    if kind == "sessions_held":
        return _evaluate_sessions(name, sla, sessions)
    if kind in _BREAKER_KINDS:
        return _evaluate_breaker(name, kind, sla, fault_windows)
    if kind == "rejections":
        return _evaluate_rejections(name, sla, requests)
    if kind == "rss_growth":
        return _evaluate_rss_growth(name, sla, memory)
    return SlaResult(name, kind, False, None, None, "", f"unknown SLA kind {kind!r}: cannot evaluate it")


def error_counts(requests: pd.DataFrame) -> dict[str, int]:
    """Count ``ok``, ``error`` and ``timeout`` outcomes (the terms of the error-rate formula)."""
    counts = requests["outcome"].value_counts()
    return {outcome: int(counts.get(outcome, 0)) for outcome in _COUNTED_OUTCOMES}


def format_value(value: float | None, unit: str) -> str:
    """Format a measured value or threshold for people: ``512.3 ms``, ``1.25 s``, ``3%``."""
    if value is None:
        return "n/a"
    if unit == "s":
        if abs(value) < 0.001:
            return f"{value * 1000:.3g} ms"
        if abs(value) < 1:
            return f"{value * 1000:.1f} ms"
        return f"{value:.3g} s" if abs(value) < 100 else f"{value:.0f} s"
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    if unit == "sessions":
        return f"{value:.0f} sessions"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.4g}"


def format_threshold(result: SlaResult | Mapping[str, Any]) -> str:
    """Format an SLA's threshold as the condition it sets (``<= 1 s``, ``>= 99.9%``); a result or its dict."""
    entry = result.to_dict() if isinstance(result, SlaResult) else result
    threshold = entry.get("threshold")
    if threshold is None:
        return "n/a"
    return f"{entry.get('comparison') or '<='} {format_value(threshold, str(entry.get('unit') or ''))}"


def _select(requests: pd.DataFrame, sla: Mapping[str, Any]) -> tuple[pd.DataFrame, str]:
    """Return the requests an SLA looks at (its ``request`` name and ``session_type``, if any) and a
    phrase naming them. Without a ``session_type`` column (an older run) a session-type SLA sees none."""
    scope = ""
    request = sla.get("request")
    if request is not None:
        requests = requests[requests["name"] == str(request)]
        scope = f" for request {str(request)!r}"
    types = session_types_of(sla)
    if types:
        scope += f" of session type(s) {', '.join(types)}"
        if "session_type" not in requests.columns:
            return requests.iloc[0:0], scope + " (the run has no session_type column)"
        requests = requests[requests["session_type"].astype(str).isin(types)]
    return requests, scope


def session_types_of(sla: Mapping[str, Any]) -> list[str]:
    """The session types an SLA is narrowed to (``[]``: all): its ``session_type``, a name or a list."""
    value = sla.get("session_type")
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def _threshold(sla: Mapping[str, Any], key: str) -> float:
    """Read a numeric SLA field.

    Raises:
        ValueError: the field is missing or not a finite number.
    """
    value = sla.get(key)
    if not is_finite_number(value):
        raise ValueError(f"invalid SLA: {key!r} must be a number, got {value!r}")
    return float(value)


def _evaluate_latency(name: str, sla: Mapping[str, Any], requests: pd.DataFrame) -> SlaResult:
    try:
        max_s = _threshold(sla, "max_s")
        p = _threshold(sla, "percentile")
        percentile([0.0], p)  # validates p before looking at data
    except ValueError as exc:
        return SlaResult(name, "latency", False, None, None, "s", str(exc))
    selected, scope = _select(requests, sla)
    latencies = selected.loc[selected["outcome"] != "dropped", "latency_s"].dropna()
    if latencies.empty:
        return SlaResult(name, "latency", False, None, max_s, "s", NO_DATA + scope)
    values = np.sort(latencies.to_numpy(dtype=float))
    measured = percentile(values, p)
    passed = measured <= max_s
    detail = (
        f"p{p:g} of {values.size} non-dropped requests{scope} is {format_value(measured, 's')}"
        f" ({'within' if passed else 'over'} {format_value(max_s, 's')})"
    )
    return SlaResult(name, "latency", passed, measured, max_s, "s", detail)


def _evaluate_error_rate(name: str, sla: Mapping[str, Any], requests: pd.DataFrame) -> SlaResult:
    try:
        max_ratio = _threshold(sla, "max_ratio")
    except ValueError as exc:
        return SlaResult(name, "error_rate", False, None, None, "ratio", str(exc))
    selected, scope = _select(requests, sla)
    counts = error_counts(selected)
    not_started = 0
    if sla.get("include_dropped"):
        try:
            not_started = count_not_started(selected)
        except ValueError as exc:
            return SlaResult(name, "error_rate", False, None, max_ratio, "ratio", str(exc) + scope)
    total = sum(counts.values()) + not_started
    if total == 0:
        return SlaResult(name, "error_rate", False, None, max_ratio, "ratio", NO_DATA + scope)
    failed = counts["error"] + counts["timeout"] + not_started
    measured = failed / total
    passed = measured <= max_ratio
    dropped = f" + {not_started} not started" if sla.get("include_dropped") else ""
    detail = (
        f"{counts['error']} error + {counts['timeout']} timeout{dropped} of {total} requests{scope}"
        f" = {format_value(measured, 'ratio')}"
        f" ({'within' if passed else 'over'} {format_value(max_ratio, 'ratio')})"
    )
    return SlaResult(name, "error_rate", passed, measured, max_ratio, "ratio", detail)


def count_not_started(requests: pd.DataFrame) -> int:
    """How many requests are open-model arrivals that never started (``dropped``, ``not_started``).

    Raises:
        ValueError: there are dropped requests but no ``drop_reason`` column to tell
            arrivals that never started from requests cut short.
    """
    dropped = requests["outcome"] == "dropped"
    if not bool(dropped.any()):
        return 0
    if "drop_reason" not in requests.columns:
        message = (
            f"no data: {int(dropped.sum())} dropped request(s) but no drop_reason column "
            "(a run directory from before it existed?), so arrivals that never started cannot be "
            "told from requests cut short"
        )
        raise ValueError(message)
    return int((dropped & (requests["drop_reason"].astype(str) == "not_started")).sum())


def _evaluate_availability(name: str, sla: Mapping[str, Any], requests: pd.DataFrame) -> SlaResult:
    try:
        min_ratio = _threshold(sla, "min_ratio")
    except ValueError as exc:
        return SlaResult(name, "availability", False, None, None, "ratio", str(exc), ">=")
    selected, scope = _select(requests, sla)
    counts = error_counts(selected)
    total = sum(counts.values())
    if total == 0:
        return SlaResult(name, "availability", False, None, min_ratio, "ratio", NO_DATA + scope, ">=")
    measured = counts["ok"] / total
    passed = measured >= min_ratio
    detail = (
        f"{counts['ok']} ok of {total} requests{scope} = {format_value(measured, 'ratio')}"
        f" ({'at or above' if passed else 'under'} {format_value(min_ratio, 'ratio')})"
    )
    return SlaResult(name, "availability", passed, measured, min_ratio, "ratio", detail, ">=")


def _evaluate_rejections(name: str, sla: Mapping[str, Any], requests: pd.DataFrame) -> SlaResult:
    bound = "min_ratio" if sla.get("min_ratio") is not None else "max_ratio"
    comparison = ">=" if bound == "min_ratio" else "<="
    statuses = sla.get("statuses", [401, 403])
    try:
        threshold = _threshold(sla, bound)
        if not isinstance(statuses, list) or not statuses or not all(is_finite_number(x) for x in statuses):
            raise ValueError(f"invalid SLA: 'statuses' must be a list of HTTP statuses, got {statuses!r}")
    except ValueError as exc:
        return SlaResult(name, "rejections", False, None, None, "ratio", str(exc), comparison)
    selected, scope = _select(requests, sla)
    answered = selected[selected["outcome"].isin(_COUNTED_OUTCOMES)]
    if answered.empty:
        return SlaResult(name, "rejections", False, None, threshold, "ratio", NO_DATA + scope, comparison)
    wanted = {int(x) for x in statuses}
    status = pd.to_numeric(answered["status"], errors="coerce").fillna(0).astype(int)
    rejected = int(status.isin(wanted).sum())
    measured = rejected / len(answered)
    passed = measured >= threshold if comparison == ">=" else measured <= threshold
    codes = "/".join(str(x) for x in sorted(wanted))
    verdict = (
        ("at or above" if passed else "under") if comparison == ">=" else ("within" if passed else "over")
    )
    detail = (
        f"{rejected} of {len(answered)} answered requests{scope} got {codes}"
        f" = {format_value(measured, 'ratio')} ({verdict} {format_value(threshold, 'ratio')})"
    )
    return SlaResult(name, "rejections", passed, measured, threshold, "ratio", detail, comparison)


def _evaluate_sessions(name: str, sla: Mapping[str, Any], sessions: SessionsHeld | None) -> SlaResult:
    try:
        wanted = _threshold(sla, "min_sessions")
    except ValueError as exc:
        return SlaResult(name, "sessions_held", False, None, None, "sessions", str(exc), ">=")
    if sessions is None or sessions.min_sessions is None:
        why = sessions.detail if sessions is not None else "sessions in flight were not computed"
        return SlaResult(name, "sessions_held", False, None, wanted, "sessions", f"no data: {why}", ">=")
    measured = sessions.min_sessions
    passed = measured >= wanted
    detail = f"{sessions.detail} ({'at or above' if passed else 'under'} {wanted:.0f})"
    return SlaResult(name, "sessions_held", passed, measured, wanted, "sessions", detail, ">=")


def _evaluate_rss_growth(name: str, sla: Mapping[str, Any], memory: SampleWindow | None) -> SlaResult:
    try:
        limit = _threshold(sla, "max_mib")
        settle = _threshold(sla, "settle_s") if sla.get("settle_s") is not None else 0.0
        window = _threshold(sla, "window_s") if sla.get("window_s") is not None else 60.0
    except ValueError as exc:
        return SlaResult(name, "rss_growth", False, None, None, "MiB", str(exc))
    pattern = sla.get("process")
    if not isinstance(pattern, str) or not pattern:
        why = f"invalid SLA: 'process' must be a process name or glob, got {pattern!r}"
        return SlaResult(name, "rss_growth", False, None, limit, "MiB", why)
    if window <= 0:
        return SlaResult(name, "rss_growth", False, None, limit, "MiB", "invalid SLA: window_s must be > 0")
    if memory is None:
        return SlaResult(
            name, "rss_growth", False, None, limit, "MiB", "no data: the run's samples were not given"
        )
    start = None if memory.start is None else memory.start + settle
    growth = rss_growth(memory.samples, pattern, start, memory.end, window)
    if growth.growth_mib is None:
        return SlaResult(name, "rss_growth", False, None, limit, "MiB", f"no data: {growth.detail}")
    passed = growth.growth_mib <= limit
    settled = f" from {settle:g} s after the warm-up" if settle else ""
    return SlaResult(name, "rss_growth", passed, growth.growth_mib, limit, "MiB", f"{growth.detail}{settled}")


def _evaluate_breaker(
    name: str, kind: str, sla: Mapping[str, Any], fault_windows: Sequence[Mapping[str, Any]]
) -> SlaResult:
    try:
        max_s = _threshold(sla, "max_s")
    except ValueError as exc:
        return SlaResult(name, kind, False, None, None, "s", str(exc))
    key, verb = _BREAKER_KINDS[kind]
    server = sla.get("server")
    scope = f"targeting {str(server)!r}" if server is not None else ""
    windows = [w for w in fault_windows if server is None or w.get("target") == str(server)]
    if kind == "breaker_closes_within":
        windows = [w for w in windows if w.get("opened")]
    if not windows:
        what = (
            "no fault window" if kind == "breaker_opens_within" else "no fault window that opened the breaker"
        )
        return SlaResult(name, kind, False, None, max_s, "s", f"{what} {scope}".strip())
    missing = [w for w in windows if not is_finite_number(w.get(key))]
    if missing:
        first = missing[0]
        start = first.get("t_start_rel_s")
        when = f" at {start:+.1f} s" if is_finite_number(start) else ""
        return SlaResult(
            name,
            kind,
            False,
            None,
            max_s,
            "s",
            f"the breaker did not {verb} for {len(missing)} of {len(windows)} fault window(s) {scope}; "
            f"first: {first.get('kind')} on {first.get('target')}{when}".replace("  ", " "),
        )
    measured = max(float(w[key]) for w in windows)
    passed = measured <= max_s
    detail = (
        f"slowest {verb} over {len(windows)} fault window(s) {scope}: {format_value(measured, 's')}"
        f" ({'within' if passed else 'over'} {format_value(max_s, 's')})"
    ).replace("  ", " ")
    return SlaResult(name, kind, passed, measured, max_s, "s", detail)

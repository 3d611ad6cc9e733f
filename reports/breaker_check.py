"""Breaker verification: replay each server's calls and transitions against the configured semantics.

The ``breaker`` table says when each server's breaker changed state; the ``calls``
table says what every attempt met (``breaker_state`` at admission, ``t_start`` =
admission, ``t_start + latency_s`` ≈ when its outcome was recorded). The checks,
one result per server each (:data:`CHECKS`):

``states_consistent``
    Transitions chain (each ``from_state`` is the previous ``to_state``, the first
    leaves ``closed``), use only the breaker's edges, and every call's recorded
    state is the state the transitions give at its ``t_start``.
``opened_only_by_policy``
    Every move to ``open`` is the policy's: a CLOSED period opens on the outcome
    that trips the policy over the calls admitted in that period (calls admitted
    earlier, or finishing after the period ended, do not count: the breaker's
    generation rule), and a HALF_OPEN period reopens on the probe outcome that
    decides it. And no opening is missing: where the policy certainly trips, a
    transition follows within the tolerance.
``closed_only_by_policy``
    Every HALF_OPEN → CLOSED is the probes' verdict, and no verdict to close is ignored.
``no_calls_while_open``
    No call was let through (outcome other than ``rejected_open``/``denied``) while
    the breaker was ``open`` or ``forced_open``: neither by its recorded state nor
    by its ``t_start`` falling inside an open period.
``half_open_probe_limit``
    In each HALF_OPEN period at most ``half_open_max_calls`` probes were in flight
    at once (and, sliding window, at most ``permitted_number_of_calls_in_half_open``
    were judged).
``left_open_after_recovery_timeout``
    OPEN → HALF_OPEN came no sooner than ``recovery_timeout_s`` after opening, and no
    call was rejected as ``open`` once the recovery timeout had passed (the first
    admission after it must probe).

Timing tolerance: the two tables are written by different code paths (a
transition's wall time is derived from the monotonic clock; a call's end is
``t_start + latency_s``, measured a little after the breaker recorded it), so
times are matched within ``tolerance_s`` (:data:`TOLERANCE_S`, 50 ms) and an
in-flight probe counts as ended ``order_tolerance_s`` (:data:`ORDER_TOLERANCE_S`,
5 ms) before its recorded end. The order in which outcomes reached the breaker is
taken to be the order of their ends; ends closer than a few microseconds could in
principle have reached it the other way round.

Manual transitions (to or from ``forced_open`` and ``disabled``) are not judged
against the policy. The two policy checks live in :mod:`reports.breaker_trips`;
this module splits the transitions into periods, assigns each call to the period
that admitted it and runs the other four. Each fault window's ``time_to_open_s`` and ``time_to_close_s``
come from :mod:`reports.recovery`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reports.breaker_policy import NOT_ADMITTED, BreakerSpec, breaker_specs
from reports.breaker_trips import PolicyReplay

__all__ = [
    "CHECKS",
    "MAX_LISTED",
    "ORDER_TOLERANCE_S",
    "TOLERANCE_S",
    "BreakerCheck",
    "Period",
    "Violation",
    "periods_of",
    "verify_breakers",
    "verify_server",
]

TOLERANCE_S = 0.05
ORDER_TOLERANCE_S = 0.005
MAX_LISTED = 20
"""At most this many violations are listed per check (``violation_count`` has them all)."""

CHECKS = (
    "states_consistent",
    "opened_only_by_policy",
    "closed_only_by_policy",
    "no_calls_while_open",
    "half_open_probe_limit",
    "left_open_after_recovery_timeout",
)

_EDGES = frozenset(
    {("closed", "open"), ("open", "half_open"), ("half_open", "open"), ("half_open", "closed")}
)
_MANUAL = frozenset({"forced_open", "disabled"})
_OPEN_STATES = frozenset({"open", "forced_open"})
_STATES = frozenset({"closed", "open", "half_open", "forced_open", "disabled"})


@dataclass(frozen=True)
class Violation:
    """One breach of a check: when (epoch s) and what happened."""

    t: float
    message: str


@dataclass
class BreakerCheck:
    """One check on one server's breaker."""

    name: str
    server: str
    violations: list[Violation] = field(default_factory=list)
    checked: str = ""

    @property
    def passed(self) -> bool:
        return not self.violations

    def to_dict(self, t0: float | None) -> dict[str, Any]:
        """The check as a ``summary.json`` entry (times also relative to ``t0``)."""
        listed = sorted(self.violations, key=lambda v: v.t)[:MAX_LISTED]
        count = len(self.violations)
        detail = self.checked if self.passed else f"{count} violation(s); first: {listed[0].message}"
        return {
            "name": self.name,
            "server": self.server,
            "passed": self.passed,
            "detail": detail,
            "violation_count": count,
            "violations": [
                {"t": v.t, "t_rel_s": v.t - t0 if t0 is not None else None, "message": v.message}
                for v in listed
            ],
        }


@dataclass(frozen=True)
class Period:
    """A stretch of one breaker state: ``[start, end)``, where the transition that ended it went
    (``to_state``) and what the transition that began it said it left (``from_state``)."""

    state: str
    start: float
    end: float
    to_state: str | None
    from_state: str | None = None


def periods_of(transitions: pd.DataFrame) -> list[Period]:
    """A server's state periods, from its transitions in time order (the breaker starts closed)."""
    ordered = transitions.sort_values("t", kind="stable")
    periods: list[Period] = []
    state, start, left = "closed", -np.inf, None
    rows = zip(
        ordered["t"].tolist(),
        ordered["from_state"].astype(str).tolist(),
        ordered["to_state"].astype(str).tolist(),
        strict=True,
    )
    for t, from_state, to_state in rows:
        periods.append(Period(state, start, float(t), to_state, left))
        state, start, left = to_state, float(t), from_state
    periods.append(Period(state, start, np.inf, None, left))
    return periods


def verify_breakers(
    scenario: Mapping[str, Any],
    calls: pd.DataFrame,
    breaker: pd.DataFrame,
    tolerance_s: float = TOLERANCE_S,
    order_tolerance_s: float = ORDER_TOLERANCE_S,
) -> tuple[list[BreakerCheck], dict[str, BreakerSpec], list[str]]:
    """Run every check on every server seen in the calls or the transitions (no data, nothing to check).

    Returns the checks (server by server, in :data:`CHECKS` order), each server's
    spec, and warnings (a malformed breaker configuration: that server is not checked).
    """
    warnings: list[str] = []
    try:
        specs, default = breaker_specs(scenario)
    except ValueError as exc:
        return [], {}, [f"breaker checks skipped: scenario.yaml: {exc}"]
    breaker = breaker.loc[breaker["t"].notna()]
    servers = sorted(
        {str(s) for s in calls["server"].dropna().unique()}
        | {str(s) for s in breaker["server"].dropna().unique()}
    )
    checks: list[BreakerCheck] = []
    used: dict[str, BreakerSpec] = {}
    for server in servers:
        spec = specs.get(server, default)
        used[server] = spec
        checks += verify_server(
            server,
            spec,
            calls.loc[calls["server"] == server],
            breaker.loc[breaker["server"] == server],
            tolerance_s,
            order_tolerance_s,
        )
    return checks, used, warnings


def verify_server(
    server: str,
    spec: BreakerSpec,
    calls: pd.DataFrame,
    transitions: pd.DataFrame,
    tolerance_s: float = TOLERANCE_S,
    order_tolerance_s: float = ORDER_TOLERANCE_S,
) -> list[BreakerCheck]:
    """Every check of :data:`CHECKS` on one server's calls and transitions."""
    periods = periods_of(transitions)
    frame = _call_frame(calls)
    checks = {name: BreakerCheck(name, server) for name in CHECKS}
    replay = _Replay(spec, periods, frame, checks, tolerance_s, order_tolerance_s)
    replay.states()
    replay.policy()
    replay.no_calls_while_open()
    replay.probe_limit()
    replay.recovery_timeout()
    return [checks[name] for name in CHECKS]


def _call_frame(calls: pd.DataFrame) -> pd.DataFrame:
    frame = calls.loc[calls["t_start"].notna(), ["t_start", "latency_s", "outcome", "breaker_state"]].copy()
    extras = [column for column in ("request_id", "tool") if column in calls.columns]
    for column in extras:
        frame[column] = calls.loc[frame.index, column]
    frame["latency_s"] = frame["latency_s"].fillna(0.0)
    frame["end"] = frame["t_start"] + frame["latency_s"]
    frame["outcome"] = frame["outcome"].astype(str)
    frame["breaker_state"] = frame["breaker_state"].astype(str)
    frame["admitted"] = ~frame["outcome"].isin(NOT_ADMITTED)
    frame["period"] = -1
    return frame.sort_values("t_start", kind="stable").reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(key): value for key, value in row.items()} for row in frame.to_dict("records")]


def _describe_call(row: Mapping[str, Any]) -> str:
    request = row.get("request_id")
    tool = row.get("tool")
    parts = [f"call {tool}" if isinstance(tool, str) and tool else "call"]
    if isinstance(request, str) and request:
        parts.append(f"(request {request})")
    return " ".join(parts)


class _Replay:
    """The checks of one server; each method adds violations to its check."""

    def __init__(
        self,
        spec: BreakerSpec,
        periods: list[Period],
        calls: pd.DataFrame,
        checks: dict[str, BreakerCheck],
        tolerance_s: float,
        order_tolerance_s: float,
    ) -> None:
        self.spec = spec
        self.periods = periods
        self.calls = calls
        self.checks = checks
        self.tol = tolerance_s
        self.order_tol = order_tolerance_s

    def _flag(self, check: str, t: float, message: str) -> None:
        self.checks[check].violations.append(Violation(float(t), message))

    def states(self) -> None:
        """``states_consistent``, and assigning each call to the period that admitted it."""
        check = self.checks["states_consistent"]
        check.checked = f"{len(self.periods) - 1} transition(s) chain; {len(self.calls)} call state(s) agree"
        for before, after in zip(self.periods[:-1], self.periods[1:], strict=True):
            edge = (before.state, after.state)
            if after.from_state != before.state:
                self._flag(
                    check.name,
                    after.start,
                    f"transition at {after.start:.6f} leaves {after.from_state!r}, but the breaker was {before.state!r}",
                )
            if after.state not in _STATES:
                self._flag(
                    check.name,
                    after.start,
                    f"transition at {after.start:.6f} to unknown state {after.state!r}",
                )
            elif edge not in _EDGES and before.state not in _MANUAL and after.state not in _MANUAL:
                self._flag(
                    check.name,
                    after.start,
                    f"{before.state} -> {after.state} at {after.start:.6f} is not a breaker transition",
                )
        frame = self.calls
        times = frame["t_start"].to_numpy(dtype=np.float64)
        recorded = frame["breaker_state"].to_numpy()
        assigned = np.full(len(frame), -1, dtype=np.int64)
        for state in sorted(set(recorded.tolist())):
            mask = recorded == state
            indices = [i for i, p in enumerate(self.periods) if p.state == state]
            if not indices:
                continue
            starts = np.array([self.periods[i].start for i in indices])
            ends = np.array([self.periods[i].end for i in indices])
            where = np.searchsorted(starts, times[mask] + self.tol, side="right") - 1
            ok = where >= 0
            ok[ok] = ends[where[ok]] + self.tol >= times[mask][ok]
            chosen = np.full(where.size, -1, dtype=np.int64)
            chosen[ok] = np.asarray(indices)[where[ok]]
            assigned[mask] = chosen
        frame["period"] = assigned
        starts_all = np.array([p.start for p in self.periods])
        for row in _records(frame.loc[assigned < 0]):
            actual = self.periods[int(np.searchsorted(starts_all, row["t_start"], side="right")) - 1].state
            self._flag(
                check.name,
                row["t_start"],
                f"{_describe_call(row)} at {row['t_start']:.6f} was admitted as {row['breaker_state']!r}, "
                f"but the transitions say the breaker was {actual!r}",
            )

    def policy(self) -> None:
        """``opened_only_by_policy`` and ``closed_only_by_policy`` (:mod:`reports.breaker_trips`)."""
        self.checks["opened_only_by_policy"].checked = (
            "every opening matches the trip policy and no trip went unheeded"
            if self.spec.enabled
            else "breaker disabled by configuration: it never opened"
        )
        self.checks["closed_only_by_policy"].checked = "every close matches the probes' verdict"
        PolicyReplay(self.spec, self.periods, self.calls, self._flag, self.tol, self.order_tol).run()

    def no_calls_while_open(self) -> None:
        frame = self.calls
        check = self.checks["no_calls_while_open"]
        open_periods = [p for p in self.periods if p.state in _OPEN_STATES]
        check.checked = f"{len(open_periods)} open period(s): every call in them was rejected"
        admitted = frame.loc[frame["admitted"]]
        flagged: set[int] = set()
        for position, row in zip(
            admitted.index[admitted["breaker_state"].isin(_OPEN_STATES)].tolist(),
            _records(admitted.loc[admitted["breaker_state"].isin(_OPEN_STATES)]),
            strict=True,
        ):
            flagged.add(int(position))
            self._flag(
                check.name,
                row["t_start"],
                f"{_describe_call(row)} at {row['t_start']:.6f} went through (outcome {row['outcome']}) although it "
                f"was admitted with the breaker {row['breaker_state']}",
            )
        times = admitted["t_start"].to_numpy(dtype=np.float64)
        for period in open_periods:
            inside = (times > period.start + self.tol) & (times < period.end - self.tol)
            for position, row in zip(
                admitted.index[inside].tolist(), _records(admitted.loc[inside]), strict=True
            ):
                if int(position) in flagged:
                    continue
                flagged.add(int(position))
                self._flag(
                    check.name,
                    row["t_start"],
                    f"{_describe_call(row)} at {row['t_start']:.6f} reached the server (outcome {row['outcome']}) "
                    f"while the breaker was {period.state} (from {period.start:.6f})",
                )

    def probe_limit(self) -> None:
        frame = self.calls
        check = self.checks["half_open_probe_limit"]
        limit = self.spec.half_open_max_calls
        permits = self.spec.half_open_permits
        halves = [i for i, p in enumerate(self.periods) if p.state == "half_open"]
        check.checked = f"{len(halves)} half-open period(s): at most {limit} probe(s) in flight" + (
            f", at most {permits} judged" if permits is not None else ""
        )
        for index in halves:
            period = self.periods[index]
            probes = frame.loc[
                (frame["period"] == index) & (frame["breaker_state"] == "half_open") & frame["admitted"]
            ]
            if probes.empty:
                continue
            starts = probes["t_start"].to_numpy(dtype=np.float64)
            releases = np.maximum(starts, probes["end"].to_numpy(dtype=np.float64) - self.order_tol)
            releases = np.minimum(releases, period.end)
            times = np.r_[starts, releases]
            # At equal times a release comes before an admission.
            steps = np.r_[np.ones(starts.size, dtype=np.int64), -np.ones(releases.size, dtype=np.int64)]
            order = np.lexsort((steps, times))
            in_flight = np.cumsum(steps[order])
            over = np.flatnonzero(in_flight > limit)
            if over.size:
                at = float(times[order][over[0]])
                self._flag(
                    check.name,
                    at,
                    f"{int(in_flight.max())} probes in flight at once in the half-open period from "
                    f"{period.start:.6f} (limit {limit}); first over the limit at {at:.6f}",
                )
            if permits is not None:
                judged = int(
                    (probes["outcome"].isin(self.spec.failure_outcomes) | (probes["outcome"] == "ok")).sum()
                )
                if judged > permits:
                    self._flag(
                        check.name,
                        period.start,
                        f"{judged} probes judged in the half-open period from {period.start:.6f} (permitted {permits})",
                    )

    def recovery_timeout(self) -> None:
        frame = self.calls
        check = self.checks["left_open_after_recovery_timeout"]
        recovery = self.spec.recovery_timeout_s
        opens = [i for i, p in enumerate(self.periods) if p.state == "open"]
        check.checked = (
            f"{len(opens)} open period(s): half-open after {recovery:g} s, not sooner and not later"
        )
        for index in opens:
            period = self.periods[index]
            if period.to_state == "half_open" and period.end - period.start < recovery - self.tol:
                self._flag(
                    check.name,
                    period.end,
                    f"half-open at {period.end:.6f}, {period.end - period.start:.3f} s after opening "
                    f"(recovery timeout {recovery:g} s)",
                )
            late = frame.loc[
                (frame["period"] == index)
                & (frame["breaker_state"] == "open")
                & (frame["outcome"] == "rejected_open")
                & (frame["t_start"] > period.start + recovery + self.tol)
            ]
            if not late.empty:
                row = late.iloc[0]
                self._flag(
                    check.name,
                    float(row["t_start"]),
                    f"{len(late)} call(s) rejected as open after the recovery timeout, the first at "
                    f"{row['t_start']:.6f}, {row['t_start'] - period.start:.3f} s after opening (recovery timeout "
                    f"{recovery:g} s): it should have been admitted as a half-open probe",
                )


def summarize_checks(checks: Sequence[BreakerCheck], t0: float | None) -> list[dict[str, Any]]:
    """``summary.json``'s ``breaker_checks``: one entry per (server, check)."""
    return [check.to_dict(t0) for check in checks]

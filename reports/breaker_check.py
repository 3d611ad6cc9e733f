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
against the policy. Each fault window's ``time_to_open_s`` and ``time_to_close_s``
come from :mod:`reports.fault_windows`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.breaker_policy import (
    NOT_ADMITTED,
    BreakerSpec,
    breaker_specs,
    closed_trips,
    describe_closed,
    probe_verdict,
)

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
        """``opened_only_by_policy`` and ``closed_only_by_policy``."""
        spec = self.spec
        self.checks["opened_only_by_policy"].checked = (
            "every opening matches the trip policy and no trip went unheeded"
            if spec.enabled
            else "breaker disabled by configuration: it never opened"
        )
        self.checks["closed_only_by_policy"].checked = "every close matches the probes' verdict"
        for index, period in enumerate(self.periods):
            if not spec.enabled:
                if period.to_state == "open":
                    self._flag(
                        "opened_only_by_policy",
                        period.end,
                        f"opened at {period.end:.6f} although the breaker is disabled by configuration",
                    )
                continue
            if period.state == "closed":
                self._closed_period(index, period)
            elif period.state == "half_open":
                self._half_open_period(index, period)

    def _counted(self, index: int, state: str, period: Period) -> pd.DataFrame:
        frame = self.calls
        chosen = frame.loc[
            (frame["period"] == index)
            & (frame["breaker_state"] == state)
            & frame["admitted"]
            & (frame["outcome"].isin(self.spec.failure_outcomes) | (frame["outcome"] == "ok"))
            & (frame["end"] <= period.end + self.tol)
        ]
        return chosen.sort_values("end", kind="stable")

    def _closed_period(self, index: int, period: Period) -> None:
        counted = self._counted(index, "closed", period)
        ends = counted["end"].to_numpy(dtype=np.float64)
        failed = counted["outcome"].isin(self.spec.failure_outcomes).to_numpy()
        maybe_slow, slow = self._slowness(counted)
        possible, _ = closed_trips(self.spec, ends, failed, maybe_slow)
        _, certain = closed_trips(self.spec, ends, failed, slow)
        first = np.flatnonzero(certain)
        if period.to_state == "open":
            if not self._tipped_near(period.end, ends, failed, maybe_slow, possible):
                before = int(np.searchsorted(ends, period.end + self.tol, side="right")) - 1
                self._flag(
                    "opened_only_by_policy",
                    period.end,
                    f"opened at {period.end:.6f} without the policy tripping: over the {before + 1} counted "
                    f"outcome(s) of the closed period up to then, {describe_closed(self.spec, failed, slow, before)}",
                )
            if first.size and ends[first[0]] < period.end - self.tol:
                self._flag(
                    "opened_only_by_policy",
                    ends[first[0]],
                    f"the policy trips at {ends[first[0]]:.6f} "
                    f"({describe_closed(self.spec, failed, slow, int(first[0]))}), but the breaker opened only at "
                    f"{period.end:.6f}",
                )
        elif first.size and ends[first[0]] < period.end - self.tol:
            until = (
                "the end of the data" if period.to_state is None else f"{period.end:.6f} ({period.to_state})"
            )
            self._flag(
                "opened_only_by_policy",
                ends[first[0]],
                f"the policy trips at {ends[first[0]]:.6f} ({describe_closed(self.spec, failed, slow, int(first[0]))}), "
                f"but the breaker stayed closed until {until}",
            )

    def _orders(self, t: float, ends: npt.NDArray[np.float64]) -> list[npt.NDArray[np.int64]]:
        """The record orders that could have ended with a transition at ``t``, one per candidate.

        The outcome that moved the breaker was recorded at ``t``, but its row's end
        trails ``t`` by the time the transition row took to write, so an outcome
        recorded just after it can look earlier. Each outcome ending within
        ``order_tolerance_s`` after ``t`` is tried as the deciding one, after the
        outcomes that ended before ``t``, in end order.
        """
        candidates = np.flatnonzero((ends >= t) & (ends <= t + self.order_tol))
        orders = []
        for i in candidates.tolist():
            before = np.flatnonzero(ends < t)
            orders.append(np.r_[before, i].astype(np.int64))
        return orders

    def _tipped_near(
        self,
        t: float,
        ends: npt.NDArray[np.float64],
        failed: npt.NDArray[np.bool_],
        maybe_slow: npt.NDArray[np.bool_],
        possible: npt.NDArray[np.bool_],
    ) -> bool:
        """Whether the policy may have opened the breaker on an outcome recorded at ``t``."""
        near = np.abs(ends - t) <= self.tol
        if bool((possible & near).any()):
            return True
        for order in self._orders(t, ends):
            order = order[-self._tail(ends[order]) :]
            tail_possible, _ = closed_trips(self.spec, ends[order], failed[order], maybe_slow[order])
            if bool(tail_possible[-1]):
                return True
        return False

    def _verdict_near(
        self,
        moved: str,
        t: float,
        ends: npt.NDArray[np.float64],
        failed: npt.NDArray[np.bool_],
        slow: npt.NDArray[np.bool_],
        maybe_slow: npt.NDArray[np.bool_],
    ) -> bool:
        """Whether the probes may have decided ``moved`` on an outcome recorded at ``t``."""
        orders = [np.arange(ends.size), *self._orders(t, ends)]
        for order in orders:
            for slowness in (slow, maybe_slow):
                verdict = probe_verdict(self.spec, failed[order], slowness[order])
                if (
                    verdict is not None
                    and verdict.to_state == moved
                    and abs(float(ends[order][verdict.index]) - t) <= self.tol
                ):
                    return True
        return False

    def _tail(self, ends: npt.NDArray[np.float64]) -> int:
        """How many of the last outcomes decide whether the last one trips the policy."""
        spec = self.spec
        if spec.policy == "consecutive":
            return spec.failure_threshold
        if spec.window_type == "count":
            return spec.window_size
        return int(ends.size - np.searchsorted(ends, ends[-1] - spec.window_size - 1, side="left"))

    def _slowness(self, counted: pd.DataFrame) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        """Which calls may have been slow and which certainly were.

        The breaker timed a call up to its record; ``latency_s`` runs a little past
        that, so a latency within ``order_tolerance_s`` above the threshold is ambiguous.
        """
        latency = counted["latency_s"].to_numpy(dtype=np.float64)
        return latency > self.spec.slow_s, latency - self.order_tol > self.spec.slow_s

    def _half_open_period(self, index: int, period: Period) -> None:
        counted = self._counted(index, "half_open", period)
        ends = counted["end"].to_numpy(dtype=np.float64)
        failed = counted["outcome"].isin(self.spec.failure_outcomes).to_numpy()
        maybe_slow, slow = self._slowness(counted)
        verdict = probe_verdict(self.spec, failed, slow)
        moved = period.to_state if period.to_state in ("open", "closed") else None
        check_of = {"open": "opened_only_by_policy", "closed": "closed_only_by_policy"}
        if moved is not None and self._verdict_near(moved, period.end, ends, failed, slow, maybe_slow):
            return
        if moved is not None:
            if verdict is None:
                self._flag(
                    check_of[moved],
                    period.end,
                    f"half-open -> {moved} at {period.end:.6f}, but the {ends.size} counted probe(s) had not decided",
                )
            else:
                t_verdict = float(ends[verdict.index])
                if verdict.to_state != moved:
                    self._flag(
                        check_of[moved],
                        period.end,
                        f"half-open -> {moved} at {period.end:.6f}, but the probes decided {verdict.to_state} at "
                        f"{t_verdict:.6f} ({verdict.why})",
                    )
                elif abs(t_verdict - period.end) > self.tol:
                    self._flag(
                        check_of[moved],
                        period.end,
                        f"half-open -> {moved} at {period.end:.6f}, but the deciding probe ended at "
                        f"{t_verdict:.6f} ({verdict.why})",
                    )
        if verdict is not None and verdict.to_state != moved:
            t_verdict = float(ends[verdict.index])
            if t_verdict < period.end - self.tol:
                until = "the end of the data" if period.to_state is None else f"{period.end:.6f}"
                self._flag(
                    check_of[verdict.to_state],
                    t_verdict,
                    f"the probes decided {verdict.to_state} at {t_verdict:.6f} ({verdict.why}), but the breaker "
                    f"stayed half-open until {until}",
                )

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

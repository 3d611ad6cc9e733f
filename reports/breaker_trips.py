"""The trip-policy half of the breaker verification: ``opened_only_by_policy`` and ``closed_only_by_policy``.

:mod:`reports.breaker_check` splits a server's transitions into state periods and
assigns every call to the period that admitted it; this module replays the
outcomes each CLOSED period counted against the configured trip policy
(:func:`reports.breaker_policy.closed_trips`) and each HALF_OPEN period's probes
against the probe verdict (:func:`reports.breaker_policy.probe_verdict`):

- a move to ``open`` must be where the policy trips (or the probes decide to
  reopen), within the timing tolerance, and a certain trip must be followed by a
  transition;
- a HALF_OPEN → CLOSED must be the probes' verdict, and a verdict to close must
  not be ignored.

Only calls admitted in the period count (the breaker's generation rule), and only
outcomes recorded before the period ended. Which outcome reached the breaker
first is ambiguous within ``order_tolerance_s``; every order that ambiguity
allows is tried before a violation is flagged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports.breaker_policy import BreakerSpec, closed_trips, describe_closed, probe_verdict

if TYPE_CHECKING:  # only for annotations: breaker_check imports this module
    from reports.breaker_check import Period

__all__ = ["MAX_AMBIGUOUS_PROBES", "Flag", "PolicyReplay", "slowness_options"]

MAX_AMBIGUOUS_PROBES = 10
"""Up to this many probes of uncertain slowness, every combination is tried; beyond, all or none slow."""

Flag = Callable[[str, float, str], None]
"""Records a violation: ``flag(check_name, t, message)``."""


class PolicyReplay:
    """The policy checks of one server, flagging violations through ``flag``.

    ``calls`` is the server's call frame from :mod:`reports.breaker_check` (columns
    ``t_start``, ``latency_s``, ``end``, ``outcome``, ``breaker_state``,
    ``admitted``, and ``period``: the index in ``periods`` that admitted the call).
    """

    def __init__(
        self,
        spec: BreakerSpec,
        periods: Sequence[Period],
        calls: pd.DataFrame,
        flag: Flag,
        tolerance_s: float,
        order_tolerance_s: float,
    ) -> None:
        self.spec = spec
        self.periods = periods
        self.calls = calls
        self._flag = flag
        self.tol = tolerance_s
        self.order_tol = order_tolerance_s

    def run(self) -> None:
        """Replay every CLOSED and HALF_OPEN period (a disabled breaker must simply never open)."""
        spec = self.spec
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
        """Whether the probes may have decided ``moved`` on an outcome recorded at ``t``.

        A probe whose latency is within ``order_tolerance_s`` above the slow-call
        threshold may or may not have been slow for the breaker; each one can go
        either way, independently (:func:`slowness_options`).
        """
        orders = [np.arange(ends.size), *self._orders(t, ends)]
        for order in orders:
            for slowness in slowness_options(slow[order], maybe_slow[order]):
                verdict = probe_verdict(self.spec, failed[order], slowness)
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


def slowness_options(
    slow: npt.NDArray[np.bool_], maybe_slow: npt.NDArray[np.bool_]
) -> list[npt.NDArray[np.bool_]]:
    """Every way the probes could have been slow for the breaker: ``slow`` ones certainly were,
    ``maybe_slow`` but not ``slow`` ones may have been (each independently, up to
    :data:`MAX_AMBIGUOUS_PROBES` of them; beyond that only all or none)."""
    ambiguous = np.flatnonzero(maybe_slow & ~slow)
    if ambiguous.size == 0:
        return [slow]
    if ambiguous.size > MAX_AMBIGUOUS_PROBES:
        return [slow, maybe_slow]
    options = []
    for mask in range(1 << ambiguous.size):
        option = slow.copy()
        option[ambiguous[[bool(mask >> bit & 1) for bit in range(ambiguous.size)]]] = True
        options.append(option)
    return options

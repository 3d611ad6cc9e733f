"""A scenario's SLAs (``slas:``): one model per kind, picked by ``kind``.

Re-exported by :mod:`harness.scenario`. The semantics (what is counted, over which
requests) are those of ``reports/sla.py`` and docs/architecture.md, "SLA semantics".

``latency``, ``error_rate`` and ``availability`` may be narrowed to some session types
(``session_type``: a name or a list of names of ``load.sessions``); ``rejections``
counts the requests of some session types that the gateway refused with one of
``statuses`` (401 and 403 by default) and bounds that share from below (``min_ratio``:
"the forged sessions are rejected") or from above (``max_ratio``: "the valid sessions
are not").
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "SLA_KINDS",
    "AvailabilitySla",
    "BreakerWithinSla",
    "ErrorRateSla",
    "LatencySla",
    "RejectionsSla",
    "RssGrowthSla",
    "SessionsHeldSla",
    "Sla",
    "sla_session_types",
]

SessionTypeFilter = str | list[str] | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencySla(_Model):
    """The ``percentile``-th percentile of the (non-dropped) requests' latency is at most ``max_s``."""

    name: str
    kind: Literal["latency"]
    percentile: float = Field(gt=0, le=100)
    max_s: float = Field(gt=0)
    request: str | None = None
    session_type: SessionTypeFilter = None


class ErrorRateSla(_Model):
    """``(error + timeout) / (ok + error + timeout)`` is at most ``max_ratio``. With ``include_dropped``,
    open-model arrivals that could not start (``dropped``, ``drop_reason: not_started``) count as errors."""

    name: str
    kind: Literal["error_rate"]
    max_ratio: float = Field(ge=0, le=1)
    request: str | None = None
    include_dropped: bool = False
    session_type: SessionTypeFilter = None


class BreakerWithinSla(_Model):
    """The breaker opens within ``max_s`` of each fault window's start (or closes within
    ``max_s`` of its end), for ``server`` or every server; measured on the slowest window."""

    name: str
    kind: Literal["breaker_opens_within", "breaker_closes_within"]
    max_s: float = Field(gt=0)
    server: str | None = None


class AvailabilitySla(_Model):
    """``ok / (ok + error + timeout)`` is at least ``min_ratio`` (``1 - error rate``)."""

    name: str
    kind: Literal["availability"]
    min_ratio: float = Field(ge=0, le=1)
    request: str | None = None
    session_type: SessionTypeFilter = None


class SessionsHeldSla(_Model):
    """At least ``min_sessions`` sessions were in flight (Locust users, summed over workers) in every
    second-long sample from the end of the ramp-up to the end of the load."""

    name: str
    kind: Literal["sessions_held"]
    min_sessions: int = Field(ge=1)


class RejectionsSla(_Model):
    """The share of the requests of ``session_type`` (every type when omitted) answered with one of
    ``statuses`` is at least ``min_ratio`` or at most ``max_ratio`` (give exactly one).

    Counted over requests that got an answer (``ok``, ``error``, ``timeout``; ``dropped`` never).
    """

    name: str
    kind: Literal["rejections"]
    session_type: SessionTypeFilter = None
    statuses: list[int] = Field(default_factory=lambda: [401, 403], min_length=1)
    min_ratio: float | None = Field(default=None, ge=0, le=1)
    max_ratio: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _one_bound(self) -> RejectionsSla:
        if (self.min_ratio is None) == (self.max_ratio is None):
            raise ValueError(
                "give exactly one of min_ratio (rejected at least) or max_ratio (rejected at most)"
            )
        for status in self.statuses:
            if not 100 <= status <= 599:
                raise ValueError(f"statuses: {status} is not an HTTP status (100-599)")
        return self


class RssGrowthSla(_Model):
    """The RSS of each process matching ``process`` (a glob over the ``samples`` table's process
    names: ``gateway``, ``server-*``, ``locust*``, ``orchestrator``) grew by at most ``max_mib``:
    the median of its last ``window_s`` seconds minus the median of its first, counted from the
    end of the warm-up plus ``settle_s`` to the end of the load. For soak runs: a leak fails it,
    a plateau reached within ``settle_s`` does not."""

    name: str
    kind: Literal["rss_growth"]
    process: str = Field(min_length=1)
    max_mib: float = Field(gt=0)
    settle_s: float = Field(default=0.0, ge=0)
    window_s: float = Field(default=60.0, gt=0)


Sla = Annotated[
    LatencySla
    | ErrorRateSla
    | AvailabilitySla
    | BreakerWithinSla
    | SessionsHeldSla
    | RejectionsSla
    | RssGrowthSla,
    Field(discriminator="kind"),
]

SLA_KINDS = (
    "latency",
    "error_rate",
    "availability",
    "breaker_opens_within",
    "breaker_closes_within",
    "sessions_held",
    "rejections",
    "rss_growth",
)


def sla_session_types(sla: object) -> list[str]:
    """The session type names an SLA is narrowed to (``[]``: every type)."""
    value = getattr(sla, "session_type", None)
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)

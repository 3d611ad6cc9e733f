"""What ``chaosbench compare`` shows about one run, taken from the run's own summary.

Every figure here is read from the ``summary.json`` document that
:func:`reports.render.analyse_run` builds in memory for the run (the report's
analysis, so the comparison and the run's report cannot disagree), plus
``run.json`` and ``scenario.yaml`` for what was played:

- identity: ``run_id``, ``run_dir``, ``scenario`` (its name), ``profile``
  (``run.json``'s ``profile``; for runs recorded before it was there, the
  ``profile`` key of the resolved ``scenario.yaml``), ``status``, ``reason``;
- the verdict: ``verdict``, ``exit_code``, ``verdict_reasons``, each SLA's
  ``passed`` and ``measured`` value;
- ``trustworthy`` and ``generator_saturated`` (the load generator's saturation,
  ``reports.generator``): a saturated generator measured itself, not the system;
- ``figures`` (:data:`FIGURES`): the headline numbers, each over the measured
  requests (after the warm-up) exactly as in the report: ``users`` (the planned
  peak), ``sessions_held`` (the fewest sessions in flight after the ramp-up),
  ``requests`` (measured requests), ``throughput_rps`` (completed requests per
  second after the warm-up), ``p50_s``/``p95_s``/``p99_s`` (nearest rank over
  requests that were not dropped), ``error_rate``, ``availability``,
  ``breaker_opens`` (transitions to ``open`` over the whole run, every server),
  ``capacity_users`` (a capacity search's result, else ``None``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FIGURES", "flatten", "run_facts"]

FIGURES: tuple[str, ...] = (
    "users",
    "sessions_held",
    "requests",
    "throughput_rps",
    "p50_s",
    "p95_s",
    "p99_s",
    "error_rate",
    "availability",
    "breaker_opens",
    "capacity_users",
)


def run_facts(
    summary: Mapping[str, Any], scenario: Mapping[str, Any], run_info: Mapping[str, Any], run_dir: str
) -> dict[str, Any]:
    """The comparison's view of one run (see the module docstring for every key)."""
    requests = _mapping(summary.get("requests"))
    latency = _mapping(requests.get("latency_s"))
    sessions = _mapping(summary.get("sessions"))
    generator = _mapping(summary.get("load_generator"))
    capacity = _mapping(summary.get("capacity"))
    transitions = _mapping(summary.get("breaker")).get("transitions") or []
    figures: dict[str, Any] = {
        "users": sessions.get("peak_target"),
        "sessions_held": sessions.get("min_after_ramp_up"),
        "requests": requests.get("total"),
        "throughput_rps": requests.get("throughput_rps"),
        "p50_s": latency.get("p50"),
        "p95_s": latency.get("p95"),
        "p99_s": latency.get("p99"),
        "error_rate": requests.get("error_rate"),
        "availability": summary.get("availability"),
        "breaker_opens": sum(
            1 for t in transitions if isinstance(t, Mapping) and t.get("to_state") == "open"
        ),
        "capacity_users": capacity.get("capacity_users"),
    }
    profile = run_info.get("profile") if "profile" in run_info else scenario.get("profile")
    return {
        "run_id": str(summary.get("run_id") or run_info.get("run_id") or run_dir),
        "run_dir": run_dir,
        "scenario": summary.get("scenario") or scenario.get("name"),
        "profile": profile if isinstance(profile, str) and profile else None,
        "status": summary.get("status"),
        "reason": summary.get("reason"),
        "verdict": summary.get("verdict"),
        "exit_code": summary.get("exit_code"),
        "verdict_reasons": list(summary.get("verdict_reasons") or []),
        "trustworthy": bool(summary.get("trustworthy", True)),
        "generator_saturated": generator.get("saturated"),
        "generator_detail": generator.get("detail"),
        "warmup_s": _mapping(summary.get("warmup")).get("warmup_s"),
        "duration_s": requests.get("duration_s"),
        "slas": [
            {
                key: sla.get(key)
                for key in ("name", "kind", "passed", "measured", "unit", "comparison", "threshold")
            }
            for sla in summary.get("slas") or []
            if isinstance(sla, Mapping)
        ],
        "figures": figures,
    }


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested mapping as ``{"a.b.c": leaf}``; lists are leaves (compared whole)."""
    if not isinstance(value, Mapping) or (prefix and not value):
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}

"""Was the load generator itself the bottleneck? Saturation of the Locust processes, and of the host.

A Locust process is one gevent loop on one core: once it spends most of a
second on the CPU it sends late, measures its own queueing as the system's
latency and offers less load than asked. Its figures then describe the load
generator, not the system under test, so a saturated generator makes the run
**untrustworthy** and the verdict FAIL (``docs/architecture.md``, "SLA semantics").

Rule, per Locust process (``samples`` rows whose ``process`` starts with
``locust`` and that have a ``cpu_percent``, percent of one core, written by the
orchestrator's sampler) over the measured window (after the warm-up, until the
load end): the process is **saturated** when ``cpu_percent >= 90``
(:data:`SATURATED_CPU_PERCENT`) in **more than 10%** (:data:`SATURATED_SHARE`)
of its samples there **and** in at least 3 (:data:`SATURATED_MIN_BUSY_SAMPLES`) of
them. Exactly 10% is not saturated; exactly 90% counts as busy. The floor of 3 keeps
one or two bursts (Locust's own start or stop, a GC pause) from condemning a short
run: in a 5 s run one busy sample is already 14% of seven. The generator is
saturated when any of its processes is.

Host: per whole second, the sum of every sampled process's ``cpu_percent`` (a
process sampled twice in a second counts its mean) divided by the machine's
``cpu_count`` (``environment.json``). When that is ``>= 95%``
(:data:`HOST_BUSY_PERCENT`) in more than half (:data:`HOST_BUSY_SHARE`) of the
seconds, the whole machine was busy and the report warns: the generator, the
gateway and the servers were competing for CPU. It is a warning, not a failure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np
import pandas as pd

from reports.percentiles import is_finite_number, percentile

__all__ = [
    "HOST_BUSY_PERCENT",
    "HOST_BUSY_SHARE",
    "SATURATED_CPU_PERCENT",
    "SATURATED_MIN_BUSY_SAMPLES",
    "SATURATED_SHARE",
    "GeneratorCheck",
    "HostCpu",
    "check_generator",
    "host_cpu",
    "locust_cpu_samples",
    "more_than_share",
]

SATURATED_CPU_PERCENT = 90.0
SATURATED_SHARE = 0.10
SATURATED_MIN_BUSY_SAMPLES = 3
HOST_BUSY_PERCENT = 95.0
HOST_BUSY_SHARE = 0.5


@dataclass(frozen=True)
class GeneratorCheck:
    """The saturation verdict on the load generator over one window.

    ``saturated`` is ``None`` when no Locust CPU sample fell in the window (not checked).
    ``processes`` maps each Locust process to its figures.
    """

    saturated: bool | None
    max_cpu_percent: float | None = None
    p90_cpu_percent: float | None = None
    processes: dict[str, dict[str, Any]] = field(default_factory=dict)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "saturated": self.saturated,
            "max_cpu_percent": self.max_cpu_percent,
            "p90_cpu_percent": self.p90_cpu_percent,
            "processes": {name: dict(figures) for name, figures in self.processes.items()},
            "detail": self.detail,
            "rule": f"a Locust process at >= {SATURATED_CPU_PERCENT:g}% CPU in more than "
            f"{SATURATED_SHARE:.0%} of its samples (and in at least {SATURATED_MIN_BUSY_SAMPLES}) after the warm-up",
        }


@dataclass(frozen=True)
class HostCpu:
    """The machine's total CPU per second over the measured window (percent of all cores)."""

    cpu_count: int
    seconds: int
    busy_seconds: int
    max_percent: float | None
    p50_percent: float | None

    @property
    def busy(self) -> bool:
        return self.seconds > 0 and more_than_share(self.busy_seconds, self.seconds, HOST_BUSY_SHARE)

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_count": self.cpu_count,
            "seconds": self.seconds,
            "busy_seconds": self.busy_seconds,
            "max_percent": self.max_percent,
            "p50_percent": self.p50_percent,
            "busy": self.busy,
        }

    def warning(self) -> str | None:
        """The report's warning when the host was busy, else ``None``."""
        if not self.busy:
            return None
        return (
            f"the host's CPU was >= {HOST_BUSY_PERCENT:g}% of its {self.cpu_count} core(s) in "
            f"{self.busy_seconds} of {self.seconds} s (median {self.p50_percent:.0f}%): the load generator, "
            "gateway and servers competed for CPU, so latencies include waiting for a core"
        )


def locust_cpu_samples(samples: pd.DataFrame, start: float | None, end: float | None) -> pd.DataFrame:
    """Locust processes' CPU samples (``t``, ``process``, ``cpu_percent``) with ``start <= t <= end``."""
    chosen = samples.loc[
        samples["process"].astype(str).str.startswith("locust")
        & samples["cpu_percent"].notna()
        & samples["t"].notna(),
        ["t", "process", "cpu_percent"],
    ]
    if start is not None:
        chosen = chosen.loc[chosen["t"] >= start]
    if end is not None:
        chosen = chosen.loc[chosen["t"] <= end]
    return chosen


def check_generator(samples: pd.DataFrame, start: float | None, end: float | None) -> GeneratorCheck:
    """Apply the saturation rule (module docstring) to the Locust CPU samples in ``[start, end]``."""
    chosen = locust_cpu_samples(samples, start, end)
    if chosen.empty:
        return GeneratorCheck(
            None, detail="no CPU samples of a Locust process in the measured window: saturation not checked"
        )
    processes: dict[str, dict[str, Any]] = {}
    for process, group in chosen.groupby("process", sort=True):
        cpu = np.sort(group["cpu_percent"].to_numpy(dtype=np.float64))
        busy = int((cpu >= SATURATED_CPU_PERCENT).sum())
        processes[str(process)] = {
            "samples": int(cpu.size),
            "busy_samples": busy,
            "busy_share": busy / cpu.size,
            "max_cpu_percent": float(cpu[-1]),
            "p90_cpu_percent": percentile(cpu, 90),
            "mean_cpu_percent": float(cpu.mean()),
            "saturated": busy >= SATURATED_MIN_BUSY_SAMPLES
            and more_than_share(busy, int(cpu.size), SATURATED_SHARE),
        }
    everything = np.sort(chosen["cpu_percent"].to_numpy(dtype=np.float64))
    saturated = [name for name, figures in processes.items() if figures["saturated"]]
    if saturated:
        detail = "; ".join(_describe(name, processes[name]) for name in saturated)
    else:
        worst = max(
            processes, key=lambda name: (processes[name]["busy_share"], processes[name]["max_cpu_percent"])
        )
        detail = (
            f"no Locust process was at >= {SATURATED_CPU_PERCENT:g}% CPU in more than {SATURATED_SHARE:.0%} "
            f"of its samples and in at least {SATURATED_MIN_BUSY_SAMPLES} (busiest: {_describe(worst, processes[worst])})"
        )
    return GeneratorCheck(
        bool(saturated), float(everything[-1]), percentile(everything, 90), processes, detail
    )


def host_cpu(
    samples: pd.DataFrame, cpu_count: object, start: float | None, end: float | None
) -> HostCpu | None:
    """The host's CPU per second in ``[start, end]``; ``None`` without a ``cpu_count`` or CPU samples."""
    if not is_finite_number(cpu_count) or int(cpu_count) < 1:
        return None
    chosen = samples.loc[
        samples["cpu_percent"].notna() & samples["t"].notna(), ["t", "process", "cpu_percent"]
    ]
    if start is not None:
        chosen = chosen.loc[chosen["t"] >= start]
    if end is not None:
        chosen = chosen.loc[chosen["t"] <= end]
    if chosen.empty:
        return None
    second = np.floor(chosen["t"].to_numpy(dtype=np.float64)).astype(np.int64)
    per_process = chosen.assign(second=second).groupby(["second", "process"], sort=True)["cpu_percent"].mean()
    total = np.sort(per_process.groupby(level="second").sum().to_numpy(dtype=np.float64) / int(cpu_count))
    return HostCpu(
        int(cpu_count),
        int(total.size),
        int((total >= HOST_BUSY_PERCENT).sum()),
        float(total[-1]),
        percentile(total, 50),
    )


def more_than_share(part: int, whole: int, share: float) -> bool:
    """``part / whole > share``, exactly (``share`` read as the decimal it is written as: 0.1 is 1/10)."""
    return whole > 0 and Fraction(part, whole) > Fraction(str(share))


def _describe(name: str, figures: dict[str, Any]) -> str:
    return (
        f"{name} at >= {SATURATED_CPU_PERCENT:g}% CPU in {figures['busy_samples']} of {figures['samples']} "
        f"samples ({figures['busy_share']:.0%}), max {figures['max_cpu_percent']:.0f}%"
    )

"""Analysis of chaosbench run directories: loading, percentiles, SLAs, reports.

This package reads only files in a run directory and imports no harness code;
the orchestrator runs it as a subprocess (``python -m reports render RUN_DIR``).
Importing it does nothing but define names.
"""

from reports.errors import NotARunDirError, ReportError, RunFileError
from reports.load import RunData, compact_events, load_run
from reports.locust_csv import LocustRow, LocustStats, read_locust_stats
from reports.percentiles import percentile, summarize_latency
from reports.render import RenderOutcome, render_junit, render_run
from reports.sla import SlaResult, evaluate_sla, evaluate_slas
from reports.summary import build_summary, decide_verdict

__all__ = [
    "LocustRow",
    "LocustStats",
    "NotARunDirError",
    "RenderOutcome",
    "ReportError",
    "RunData",
    "RunFileError",
    "SlaResult",
    "build_summary",
    "compact_events",
    "decide_verdict",
    "evaluate_sla",
    "evaluate_slas",
    "load_run",
    "percentile",
    "read_locust_stats",
    "render_junit",
    "render_run",
    "summarize_latency",
]

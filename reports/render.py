"""Rendering a run directory's report: ``report/summary.json``, ``report.md``, ``junit.xml``,
the PNG charts and ``report.html``.

:func:`render_run` is the whole pipeline the CLI runs: load the run directory,
evaluate its SLAs, read Locust's own statistics for comparison, build the
summary document and write the three files, then the charts, report.md again
linking them, and the HTML page (last: a chart that fails is a warning in the
page, never a lost verdict). Each
file is written to a temporary name and renamed into place, so a reader (a CI
step) never sees half a report.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reports.analysis import analyse_breakers
from reports.atomic import write_bytes_atomically
from reports.charts import render_charts
from reports.errors import RunFileError
from reports.html import write_html
from reports.load import RunData, load_run
from reports.locust_csv import LocustStats, read_locust_stats
from reports.markdown import render_markdown
from reports.memory import SampleWindow
from reports.scale import LoadAnalysis, analyse_load
from reports.sla import evaluate_slas, format_threshold, format_value
from reports.summary import build_summary, time_origin

__all__ = [
    "JUNIT_BREAKER_CLASSNAME",
    "JUNIT_CAPACITY_TESTCASE",
    "JUNIT_CLASSNAME",
    "JUNIT_GENERATOR_TESTCASE",
    "JUNIT_LOAD_CLASSNAME",
    "RenderOutcome",
    "analyse_run",
    "render_junit",
    "render_run",
    "write_report",
]

JUNIT_CLASSNAME = "chaosbench.sla"
JUNIT_BREAKER_CLASSNAME = "chaosbench.breaker"
JUNIT_LOAD_CLASSNAME = "chaosbench.load"
JUNIT_GENERATOR_TESTCASE = "load generator not saturated"
JUNIT_CAPACITY_TESTCASE = "capacity search: the first step held"

# Characters XML 1.0 cannot hold at all, even escaped (control characters in an error text).
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class RenderOutcome:
    """What :func:`render_run` produced: the summary document and where the files are."""

    summary: dict[str, Any]
    summary_path: Path
    markdown_path: Path
    junit_path: Path
    html_path: Path | None = None
    chart_paths: tuple[Path, ...] = ()

    @property
    def verdict(self) -> str:
        """``pass``, ``fail`` or ``error``."""
        return str(self.summary["verdict"])

    @property
    def exit_code(self) -> int:
        """0 pass, 1 an SLA failed, 3 the run itself failed."""
        return int(self.summary["exit_code"])


def render_run(run_dir: Path) -> RenderOutcome:
    """Analyse a run directory and write its ``report/`` files.

    Raises:
        NotARunDirError: ``run_dir`` is not a run directory.
        RunFileError: a file in it is unreadable or malformed (an unreadable Locust
            CSV is only a warning: Locust's figures are a cross-check, not input).
        OSError: the report files cannot be written.
    """
    run = load_run(Path(run_dir))
    summary, _ = analyse_run(run)
    outcome = write_report(summary, run.run_dir / "report")
    charts = render_charts(run, outcome.summary_path.parent, summary=summary)
    if charts.files:  # report.md again, now linking the charts that were drawn
        linked = [(chart.path.name, chart.title) for chart in charts.files]
        write_bytes_atomically(outcome.markdown_path, render_markdown(summary, linked).encode("utf-8"))
    html_path = write_html(summary, charts.files, outcome.summary_path.parent, charts.warnings)
    return replace(outcome, html_path=html_path, chart_paths=tuple(chart.path for chart in charts.files))


def analyse_run(run: RunData) -> tuple[dict[str, Any], LoadAnalysis]:
    """The run's ``summary.json`` document, built in memory (nothing is written), and its load analysis.

    This is the analysis :func:`render_run` writes; ``chaosbench compare`` uses it so
    that its figures are the report's, by construction.

    Raises:
        RunFileError: a file in the run directory is malformed (an unreadable Locust
            CSV is only a warning).
    """
    breakers = analyse_breakers(run)
    load = analyse_load(run)
    windows = breakers.window_dicts(time_origin(run))
    slas = run.scenario.get("slas")
    memory = SampleWindow(run.samples, load.window_start, load.end)
    results = evaluate_slas(slas, load.measured, windows, load.sessions, memory)
    if load.capacity is not None and isinstance(slas, list):
        results = load.capacity.run_results(results, slas)
    warnings: list[str] = []
    locust: LocustStats | None = None
    try:
        locust = read_locust_stats(run.run_dir / "locust")
    except RunFileError as exc:
        warnings.append(f"Locust statistics ignored: {exc}")
    return build_summary(run, results, locust, warnings, breakers, load), load


def write_report(summary: dict[str, Any], report_dir: Path) -> RenderOutcome:
    """Write ``summary.json``, ``report.md`` and ``junit.xml`` for a summary into ``report_dir``.

    Raises:
        OSError: the directory or a file cannot be written.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    summary_path = report_dir / "summary.json"
    markdown_path = report_dir / "report.md"
    junit_path = report_dir / "junit.xml"
    text = json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomically(summary_path, text.encode("utf-8"))
    write_bytes_atomically(markdown_path, render_markdown(summary).encode("utf-8"))
    write_bytes_atomically(junit_path, render_junit(summary))
    return RenderOutcome(summary, summary_path, markdown_path, junit_path)


def render_junit(summary: dict[str, Any]) -> bytes:
    """Render the SLAs as JUnit XML: one ``<testcase>`` per SLA, ``<failure>`` on the failed ones.

    Each breaker check (``breaker_checks``) is a testcase too, of class
    ``chaosbench.breaker``, named ``<server>: <check>``; its failure lists the
    violations with their times.

    The load comes first, class ``chaosbench.load``: the testcase "load generator
    not saturated" when the generator's CPU was sampled (it fails when the run is
    untrustworthy), and in a capacity search "capacity search: the first step held"
    (it fails when there is no capacity).

    The run's verdict and status go into ``<properties>`` (with the first reason
    the verdict is not PASS and, for a capacity search, the capacity): a run that
    broke (verdict ``error``) may still have SLAs that held on the data it has, and
    CI should be able to see why the exit code is 3.
    """
    slas: list[dict[str, Any]] = summary["slas"]
    checks: list[dict[str, Any]] = summary.get("breaker_checks") or []
    load_cases = _load_cases(summary)
    failures = sum(1 for sla in slas if not sla["passed"]) + sum(1 for c in checks if not c["passed"])
    failures += sum(1 for _, message in load_cases if message is not None)
    tests = len(slas) + len(checks) + len(load_cases)
    suites = ET.Element("testsuites", tests=str(tests), failures=str(failures), errors="0")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=_xml(f"chaosbench {summary.get('scenario') or ''}".strip()),
        tests=str(tests),
        failures=str(failures),
        errors="0",
        skipped="0",
    )
    properties = ET.SubElement(suite, "properties")
    capacity = summary.get("capacity") or {}
    values = {
        key: summary.get(key) for key in ("run_id", "scenario", "status", "reason", "verdict", "exit_code")
    }
    values["verdict_reason"] = (summary.get("verdict_reasons") or [None])[0]
    values["trustworthy"] = summary.get("trustworthy")
    if capacity:
        values.update(
            {
                key: capacity.get(key)
                for key in ("capacity_users", "capacity_rps", "broke_at_users", "knee_users")
            }
        )
    for key, value in values.items():
        ET.SubElement(properties, "property", name=key, value="" if value is None else _xml(value))
    for name, message in load_cases:
        case = ET.SubElement(suite, "testcase", classname=JUNIT_LOAD_CLASSNAME, name=name)
        if message is not None:
            ET.SubElement(case, "failure", message=_xml(message), type="load").text = _xml(message)
    for sla in slas:
        case = ET.SubElement(suite, "testcase", classname=JUNIT_CLASSNAME, name=_xml(sla["name"]))
        if sla["passed"]:
            continue
        unit = str(sla.get("unit") or "")
        message = f"measured {format_value(sla.get('measured'), unit)}, threshold {format_threshold(sla)}"
        kind = _xml(sla.get("kind") or "unknown")
        failure = ET.SubElement(case, "failure", message=_xml(message), type=f"sla.{kind}")
        failure.text = _xml(sla.get("detail") or "")
    for check in checks:
        name = _xml(f"{check['server']}: {check['name']}")
        case = ET.SubElement(suite, "testcase", classname=JUNIT_BREAKER_CLASSNAME, name=name)
        if check["passed"]:
            continue
        failure = ET.SubElement(
            case, "failure", message=_xml(check["detail"]), type=f"breaker.{_xml(check['name'])}"
        )
        lines = [f"{v['t']:.6f} ({_relative(v.get('t_rel_s'))}): {v['message']}" for v in check["violations"]]
        if check["violation_count"] > len(lines):
            lines.append(f"... and {check['violation_count'] - len(lines)} more")
        failure.text = _xml("\n".join(lines))
    ET.indent(suites)
    return bytes(ET.tostring(suites, encoding="utf-8", xml_declaration=True)) + b"\n"


def _load_cases(summary: dict[str, Any]) -> list[tuple[str, str | None]]:
    """The load's testcases as (name, failure message or None)."""
    reasons = summary.get("verdict_reasons") or []
    cases: list[tuple[str, str | None]] = []
    generator = summary.get("load_generator") or {}
    if generator.get("saturated") is not None:
        untrustworthy = next((r for r in reasons if r.startswith("untrustworthy")), None)
        failed = not summary.get("trustworthy", True)
        cases.append(
            (JUNIT_GENERATOR_TESTCASE, (untrustworthy or str(generator.get("detail"))) if failed else None)
        )
    capacity = summary.get("capacity")
    if capacity:
        missing = capacity.get("capacity_users") is None
        message = next((r for r in reasons if r.startswith("no capacity")), str(capacity.get("detail")))
        cases.append((JUNIT_CAPACITY_TESTCASE, message if missing else None))
    return cases


def _relative(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.3f} s"


def _xml(value: object) -> str:
    return _XML_INVALID.sub("\N{REPLACEMENT CHARACTER}", str(value))

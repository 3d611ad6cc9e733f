"""Command line of the reports package: ``python -m reports {render,compact} RUN_DIR`` and
``python -m reports compare RUN_DIR RUN_DIR [...] [--out DIR]``.

The orchestrator runs these as subprocesses, so the harness never imports this
package. Exit codes follow ``docs/architecture.md``:

``render``  0 every SLA held · 1 an SLA failed · 2 not a run directory or unreadable
            input · 3 the run itself failed (status failed/interrupted/running), or
            an unexpected error in this program (traceback on stderr)
``compact`` 0 done · 2 not a run directory or unreadable input · 3 unexpected error
``compare`` 0 done (whatever the differences) · 2 fewer than two runs, not a run
            directory or unreadable input · 3 unexpected error
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from reports.compare import compare_runs, write_compare
from reports.errors import NotARunDirError, ReportError
from reports.load import compact_events
from reports.render import RenderOutcome, render_run
from reports.sla import format_threshold, format_value

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERNAL", "main", "verdict_block"]

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

_PROG = "python -m reports"
_LOAD_REASONS = ("untrustworthy", "no capacity")  # the load's own verdict reasons (reports.scale)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors and 0 on --help
        if exc.code is None:
            return 0
        return exc.code if isinstance(exc.code, int) else EXIT_BAD_INPUT
    try:
        if args.command == "render":
            return _render(Path(args.run_dir), quiet=args.quiet, out=sys.stdout)
        if args.command == "compare":
            return _compare(args, out=sys.stdout)
        return _compact(Path(args.run_dir), quiet=args.quiet, out=sys.stdout)
    except ReportError as exc:
        print(f"{_PROG} {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # noqa: BLE001 - top level of the process: report the bug, never hide it
        print(f"{_PROG} {args.command}: unexpected error:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=_PROG, description="Analyse a chaosbench run directory.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    render = commands.add_parser(
        "render",
        help="evaluate SLAs and write report/summary.json, report.md and junit.xml",
        description="Evaluate the run's SLAs and write its report; the exit code is the verdict.",
    )
    render.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `chaosbench run`")
    render.add_argument("--quiet", action="store_true", help="print nothing on success")
    compact = commands.add_parser(
        "compact",
        help="turn events/<table>.*.jsonl parts into events/<table>.parquet",
        description="Compact each event table's JSONL parts into one Parquet file (atomically).",
    )
    compact.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by `chaosbench run`")
    compact.add_argument("--quiet", action="store_true", help="print nothing on success")
    compare = commands.add_parser(
        "compare",
        help="compare runs with the first: metric differences with bootstrap confidence intervals",
        description="Compare each run with the first (the baseline): p50/p95/p99 latency, error rate, "
        "availability and throughput, with bootstrap confidence intervals; writes compare.json, "
        "compare.md and compare.png.",
    )
    compare.add_argument(
        "run_dirs",
        metavar="RUN_DIR",
        nargs="+",
        help="two or more run directories; the first is the baseline",
    )
    compare.add_argument(
        "--out", metavar="DIR", default="compare", help="output directory (default: ./compare)"
    )
    compare.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    compare.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap's random generator (default 0)"
    )
    compare.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def _render(run_dir: Path, *, quiet: bool, out: TextIO) -> int:
    outcome = render_run(run_dir)
    if not quiet:
        out.write(verdict_block(outcome))
    return outcome.exit_code


def _compare(args: argparse.Namespace, *, out: TextIO) -> int:
    """Compare runs and write the files; bad input (one run, a bad directory) exits 2."""
    if len(args.run_dirs) < 2:
        print(
            f"{_PROG} compare: error: give at least two run directories (the first is the baseline)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.resamples < 10:
        print(f"{_PROG} compare: error: --resamples must be >= 10, got {args.resamples}", file=sys.stderr)
        return EXIT_BAD_INPUT
    document, samples = compare_runs(
        [Path(d) for d in args.run_dirs], resamples=args.resamples, seed=args.seed
    )
    paths = write_compare(document, samples, Path(args.out))
    if not args.quiet:
        for comparison in document["comparisons"]:
            real = [m["metric"] for m in comparison["metrics"] if m["real"]]
            out.write(
                f"{comparison['run_id']} vs {document['baseline']['run_id']}: real differences: {', '.join(real) or 'none'}\n"
            )
        out.write("".join(f"wrote {path}\n" for path in paths))
    return 0


def _compact(run_dir: Path, *, quiet: bool, out: TextIO) -> int:
    """Compact the run's events; raises NotARunDirError for a directory without scenario.yaml."""
    if not run_dir.is_dir():
        raise NotARunDirError(run_dir, "no such directory")
    if not (run_dir / "scenario.yaml").is_file():
        raise NotARunDirError(run_dir, "scenario.yaml is missing")
    counts = compact_events(run_dir / "events")
    if not quiet:
        tables = ", ".join(f"{name} {rows}" for name, rows in counts.items()) or "no event tables"
        out.write(f"compacted {run_dir / 'events'}: {tables}\n")
    return 0


def verdict_block(outcome: RenderOutcome) -> str:
    """The few lines the CLI prints: verdict, one line per SLA, where the report is."""
    summary = outcome.summary
    lines = [
        f"chaosbench {summary.get('scenario') or ''}: {outcome.verdict.upper()} (exit {outcome.exit_code})",
    ]
    if outcome.verdict == "error":
        reason = summary.get("reason") or "no reason recorded"
        lines.append(f"  run {summary['status']}: {reason}")
    lines += [
        f"  FAIL  {reason}"
        for reason in summary.get("verdict_reasons") or []
        if reason.startswith(_LOAD_REASONS)
    ]
    capacity = summary.get("capacity")
    if capacity:
        lines.append(f"  capacity search: {capacity.get('detail')}")
    slas: Sequence[dict[str, Any]] = summary["slas"]
    if not slas:
        lines.append("  no SLAs set")
    for sla in slas:
        unit = str(sla.get("unit") or "")
        mark = "PASS" if sla["passed"] else "FAIL"
        measured = format_value(sla.get("measured"), unit)
        line = f"  {mark}  {sla['name']}: {measured} (threshold {format_threshold(sla)})"
        if sla.get("measured") is None:  # nothing measured: the detail says why
            line += f" — {sla.get('detail')}"
        lines.append(line)
    checks: Sequence[dict[str, Any]] = summary.get("breaker_checks") or []
    if checks:
        failed = [check for check in checks if not check["passed"]]
        lines.append(f"  breaker checks: {len(checks) - len(failed)} of {len(checks)} passed")
        lines += [
            f"  FAIL  breaker {check['server']}: {check['name']} — {check['detail']}" for check in failed
        ]
    lines.append(f"report: {outcome.markdown_path}")
    return "\n".join(lines) + "\n"

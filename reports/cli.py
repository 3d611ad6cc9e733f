"""Command line of the reports package: ``python -m reports {render,compact} RUN_DIR`` and
``python -m reports compare RUN_DIR RUN_DIR [...] [--out DIR] [--fail-if-worse METRIC:PCT]``.

The orchestrator runs these as subprocesses, so the harness never imports this
package. Exit codes follow ``docs/architecture.md``:

``render``  0 every SLA held · 1 an SLA failed · 2 not a run directory or unreadable
            input · 3 the run itself failed (status failed/interrupted/running), or
            an unexpected error in this program (traceback on stderr)
``compact`` 0 done · 2 not a run directory or unreadable input · 3 unexpected error
``compare`` 0 done · 1 a ``--fail-if-worse`` gate failed · 2 fewer than two runs, a path
            that is not a run directory, a run without requests events, unreadable
            input or a bad gate · 3 unexpected error
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from reports.atomic import write_bytes_atomically
from reports.compare import RunSample, compare_runs
from reports.compare_chart import write_chart
from reports.compare_delta import Gate, parse_gate
from reports.compare_text import render_markdown, render_terminal
from reports.errors import NotARunDirError, ReportError
from reports.load import compact_events
from reports.render import RenderOutcome, render_run
from reports.sla import format_threshold, format_value

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INTERNAL",
    "default_compare_dir",
    "main",
    "verdict_block",
    "write_compare",
]

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3

_PROG = "python -m reports"
_COMPARE_PROG = "chaosbench compare"  # its documented entry point (`python -m reports compare` works too)
_LOAD_REASONS = ("untrustworthy", "no capacity")  # the load's own verdict reasons (reports.scale)

COMPARE_EPILOG = """\
examples:
  chaosbench run scenarios/tuning.yaml --profile pool_1
  chaosbench run scenarios/tuning.yaml --profile pool_4
  chaosbench compare runs/20261204-110000-tuning runs/20261204-110200-tuning
  chaosbench compare BASE RUN --out /tmp/cmp --fail-if-worse p95:10 --fail-if-worse error_rate:50

exit codes: 0 done, 1 a --fail-if-worse gate failed, 2 bad input (fewer than two runs, a path that is
not a run directory, a run without requests events, a bad gate), 3 an unexpected error
"""


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
        print(f"{_prog(args.command)}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # noqa: BLE001 - top level of the process: report the bug, never hide it
        print(f"{_prog(args.command)}: unexpected error:", file=sys.stderr)
        traceback.print_exc(file=sys.stderr)
        return EXIT_INTERNAL


def _prog(command: str) -> str:
    return _COMPARE_PROG if command == "compare" else f"{_PROG} {command}"


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
        prog=_COMPARE_PROG,
        help="compare runs (config tunings) with the first: figures, changes, which is better",
        description="Compare runs of a scenario (e.g. under two --profile tunings) with the first, the "
        "baseline. Per run: scenario, profile, status, verdict and each SLA, users, requests, requests/s, "
        "p50/p95/p99 latency, error rate, availability, breaker opens and whether the load generator kept "
        "up, all as in the run's report (after its warm-up). Per other run: the change against the baseline "
        "(absolute and %), whether it is better or worse, and a bootstrap interval saying whether it is "
        "real. Prints the tables and writes compare.md, compare.json and compare.png.",
        epilog=COMPARE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "run_dirs",
        metavar="RUN_DIR",
        nargs="+",
        help="two or more run directories written by `chaosbench run`; the first is the baseline",
    )
    compare.add_argument(
        "--out",
        metavar="DIR",
        type=Path,
        help="where compare.md, compare.json and compare.png go "
        "(default: a new directory compare-<UTC timestamp> beside the first run)",
    )
    compare.add_argument(
        "--fail-if-worse",
        metavar="METRIC:PCT",
        action="append",
        default=[],
        dest="gates",
        help="exit 1 when a run is worse than the baseline by more than PCT%% of the baseline's value "
        "(repeatable). METRIC: p50, p95, p99, rps, requests, error_rate, availability, breaker_opens, "
        "sessions, capacity. An untrustworthy run, or one without the figure, fails the gate too",
    )
    compare.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples (default 2000)")
    compare.add_argument(
        "--seed", type=int, default=0, help="seed of the bootstrap's random generator (default 0)"
    )
    compare.add_argument("--quiet", action="store_true", help="print only where the files are")
    return parser


def _render(run_dir: Path, *, quiet: bool, out: TextIO) -> int:
    outcome = render_run(run_dir)
    if not quiet:
        out.write(verdict_block(outcome))
    return outcome.exit_code


def _compare(args: argparse.Namespace, *, out: TextIO, clock: Callable[[], float] = time.time) -> int:
    """Compare runs, write the files, print the tables; 1 when a gate failed, 2 on bad input."""
    if len(args.run_dirs) < 2:
        print(
            f"{_COMPARE_PROG}: error: give at least two run directories (the first is the baseline), "
            f"got {len(args.run_dirs)}",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    if args.resamples < 10:
        print(f"{_COMPARE_PROG}: error: --resamples must be >= 10, got {args.resamples}", file=sys.stderr)
        return EXIT_BAD_INPUT
    gates: list[Gate] = []
    for spec in args.gates:
        try:
            gates.append(parse_gate(spec))
        except ValueError as exc:
            print(f"{_COMPARE_PROG}: error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    run_dirs = [Path(d) for d in args.run_dirs]
    document, samples = compare_runs(run_dirs, resamples=args.resamples, seed=args.seed, gates=gates)
    out_dir = args.out if args.out is not None else default_compare_dir(run_dirs[0], clock())
    write_compare(document, samples, out_dir)
    if args.quiet:
        out.write(f"compare: {out_dir}\n")
    else:
        out.write(render_terminal(document, str(out_dir)))
    return EXIT_FAILED if document["gates_passed"] is False else 0


def default_compare_dir(first_run: Path, now: float) -> Path:
    """``compare-<UTC yyyymmdd-HHMMSS>`` beside the first run (``-2``, ``-3`` ... when taken)."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M%S")
    parent = first_run.resolve().parent
    candidate = parent / f"compare-{stamp}"
    suffix = 1
    while candidate.exists():
        suffix += 1
        candidate = parent / f"compare-{stamp}-{suffix}"
    return candidate


def write_compare(document: dict[str, Any], samples: Sequence[RunSample], out_dir: Path) -> list[Path]:
    """Write ``compare.json``, ``compare.md`` and ``compare.png`` (when a run has latencies) into ``out_dir``.

    Raises:
        ReportError: ``out_dir`` exists and is not a directory.
        OSError: a file cannot be written.
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(
            f"--out {out_dir}: exists and is not a directory (expected a directory to write into)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "compare.json", out_dir / "compare.md"]
    text = json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    write_bytes_atomically(paths[0], text.encode("utf-8"))
    write_bytes_atomically(paths[1], render_markdown(document).encode("utf-8"))
    chart = write_chart(samples, out_dir / "compare.png")
    return [*paths, *([chart] if chart is not None else [])]


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

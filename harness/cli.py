"""The ``chaosbench`` command line.

Exit codes: 0 every SLA held · 1 an SLA failed · 2 bad input · 3 the harness failed.
``report``, ``compare`` and ``serve`` run ``python -m reports`` / ``python -m fault_servers`` so that
this package never imports them (the one-way flow of docs/architecture.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from harness.envconfig import env_overrides
from harness.errors import ScenarioError
from harness.scenario import Scenario, load_scenario

__all__ = ["main"]

EXAMPLES = """\
examples:
  chaosbench run scenarios/smoke.yaml
  chaosbench run scenarios/smoke.yaml --set load.users=100 --set load.duration_s=60 --out /tmp/runs
  chaosbench validate scenarios/smoke.yaml
  chaosbench report runs/20261122-101500-smoke
  chaosbench compare runs/20261122-101500-smoke runs/20261122-103000-smoke --out /tmp/compare
  chaosbench serve weather --transport http --port 9001 --faults faults.yaml
  chaosbench gateway --port 8080

exit codes: 0 every SLA held, 1 an SLA failed, 2 bad input, 3 the harness failed
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaosbench",
        description="Load-testing and chaos benchmark harness for LangChain + MCP agent systems.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="play a scenario end to end; writes a run directory and prints a verdict",
        description="Start the scenario's MCP servers and the gateway on 127.0.0.1, drive load with Locust, "
        "stop everything, then write the run directory and the report. Ctrl-C stops the run early and "
        "still leaves a valid run directory.",
    )
    run.add_argument("scenario", type=Path, help="scenario file (YAML)")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario value by key path, e.g. load.users=100 (repeatable; value parsed as YAML)",
    )
    run.add_argument(
        "--out", type=Path, default=Path("runs"), help="where run directories go (default: runs/)"
    )
    run.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between progress lines (default 5)",
    )

    validate = sub.add_parser("validate", help="check a scenario file; nothing is started")
    validate.add_argument("scenario", type=Path)
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")

    report = sub.add_parser("report", help="re-analyse a run directory and rewrite its report")
    report.add_argument("run_dir", type=Path)

    sub.add_parser(
        "compare",
        help="compare runs with the first (see: chaosbench compare --help)",
        add_help=False,
    ).add_argument("args", nargs=argparse.REMAINDER)

    serve = sub.add_parser(
        "serve", help="run one reference fault server (see: chaosbench serve --help)", add_help=False
    )
    serve.add_argument("args", nargs=argparse.REMAINDER)

    sub.add_parser(
        "proxy",
        help="wrap any stdio MCP server with fault injection (see: chaosbench proxy --help)",
        add_help=False,
    ).add_argument("args", nargs=argparse.REMAINDER)

    gateway = sub.add_parser("gateway", help="run the agent gateway on its own", add_help=False)
    gateway.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _load(path: Path, overrides: list[str]) -> Scenario | None:
    try:
        scenario = load_scenario(path, overrides, environ=os.environ)
    except ScenarioError as exc:
        print(f"chaosbench: invalid scenario\n{exc}", file=sys.stderr)
        return None
    _say_environment(path)
    return scenario


def _say_environment(path: Path) -> None:
    """Name the seeds' environment variables that changed (or could not change) the scenario."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        env = env_overrides(os.environ, data if isinstance(data, dict) else {})
    except (OSError, yaml.YAMLError, ScenarioError):
        return
    for name, key in env.applied.items():
        print(f"environment: {name}={os.environ[name]} sets {key}", file=sys.stderr)
    for name, why in env.ignored.items():
        print(f"environment: {name} ignored: {why}", file=sys.stderr)


def _exec_module(module: str, args: list[str]) -> int:
    """Replace this process with ``python -m module args`` (keeps stdio and signals direct)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-m", module, *args])
    return 3  # pragma: no cover - execv does not return


PASS_THROUGH = {
    "serve": ("fault_servers", ["serve"]),
    "proxy": ("fault_servers", ["proxy"]),
    "compare": ("reports", ["compare"]),
    "gateway": ("harness.gateway", []),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in PASS_THROUGH:
        # Handed over whole, so that `chaosbench serve --help` shows the server's own options.
        module, prefix = PASS_THROUGH[argv[0]]
        return _exec_module(module, [*prefix, *argv[1:]])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "validate":
        scenario = _load(args.scenario, args.overrides)
        if scenario is None:
            return 2
        servers = ", ".join(scenario.system.servers)
        print(
            f"{args.scenario}: ok — scenario {scenario.name!r}: {scenario.load.users} users for "
            f"{scenario.load.duration_s:g}s against {servers} ({scenario.system.transport}), "
            f"{len(scenario.slas)} SLA(s)"
        )
        return 0
    if args.command == "run":
        scenario = _load(args.scenario, args.overrides)
        if scenario is None:
            return 2
        from harness.orchestrator.run import RunOptions, run_scenario

        return run_scenario(scenario, RunOptions(out=args.out, progress_interval_s=args.progress_interval))
    if args.command == "report":
        return _exec_module("reports", ["render", str(args.run_dir)])
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

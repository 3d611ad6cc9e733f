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
from harness.scenario import Scenario, load_scenario, non_loopback_targets, validate_profiles

__all__ = ["main"]

EXAMPLES = """\
examples:
  chaosbench run scenarios/smoke.yaml
  chaosbench run scenarios/smoke.yaml --set load.users=100 --set load.duration_s=60 --out /tmp/runs
  chaosbench run scenarios/tuning.yaml --profile pool_4
  chaosbench run scenarios/smoke.yaml --find-capacity --workers 2
  chaosbench validate scenarios/smoke.yaml
  chaosbench report runs/20261122-101500-smoke
  chaosbench compare runs/20261122-101500-smoke runs/20261122-103000-smoke --out /tmp/compare
  chaosbench compare runs/BASELINE runs/CANDIDATE --fail-if-worse p95:10
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
    _add_profile_args(run)
    run.add_argument(
        "--find-capacity",
        action="store_true",
        help="capacity search: raise the users step by step (load.capacity, or its defaults) and report "
        "the last step whose SLAs held",
    )
    run.add_argument(
        "--workers",
        type=int,
        default=0,
        metavar="N",
        help="Locust distributed mode: a master and N local worker processes (default 0: one process)",
    )
    run.add_argument(
        "--web-ui",
        action="store_true",
        help="also serve Locust's web UI on 127.0.0.1 (the address is printed) for watching a run",
    )
    run.add_argument(
        "--no-compact",
        action="store_true",
        help="leave the events as JSONL parts at the end (for remote Locust workers whose files are copied "
        "into the run directory afterwards; then: python -m reports compact RUN_DIR; chaosbench report RUN_DIR)",
    )
    run.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow system.servers.*.url targets outside 127.0.0.1/::1 (refused by default)",
    )
    run.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between progress lines (default 5)",
    )

    validate = sub.add_parser(
        "validate",
        help="check a scenario file (and every profile it defines); nothing is started",
        description="Validate a scenario: schema, faults, SLAs, and each of its profiles. Exit 0 when valid, "
        "2 with one line per problem (file, key path, what was expected) when not.",
    )
    validate.add_argument("scenario", type=Path)
    validate.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    _add_profile_args(validate)

    report = sub.add_parser("report", help="re-analyse a run directory and rewrite its report")
    report.add_argument("run_dir", type=Path)

    sub.add_parser(
        "compare",
        help="compare runs (config tunings) with the first: changes, better or worse "
        "(see: chaosbench compare --help)",
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


def _add_profile_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        metavar="NAME",
        help="apply the scenario's named profile (profiles.NAME: key paths → values) before --set",
    )


def _load(path: Path, overrides: list[str], profile: str | None = None) -> Scenario | None:
    try:
        scenario = load_scenario(path, overrides, environ=os.environ, profile=profile)
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


def describe(scenario: Scenario) -> str:
    """One line saying what a scenario plays (for validate and the run's first line)."""
    load = scenario.load
    if load.model == "open":
        assert load.open is not None
        shape = (
            f"open model, {load.open.arrival_rate_per_s:g} sessions/s ({load.open.arrivals}), "
            f"at most {load.open.max_sessions} in flight, for {load.total_duration_s():g}s"
        )
    elif load.capacity is not None and load.capacity.enabled:
        steps = load.capacity.steps()
        shape = (
            f"capacity search, {len(steps)} steps of {load.capacity.step_duration_s:g}s "
            f"from {steps[0]} to {steps[-1]} users"
        )
    elif load.stages:
        shape = (
            f"{len(load.stages)} stages up to {load.peak_sessions()} users over {load.total_duration_s():g}s"
        )
    else:
        shape = f"{load.users} users for {load.total_duration_s():g}s"
    servers = ", ".join(scenario.system.servers)
    profile = f" (profile {scenario.profile})" if scenario.profile else ""
    return (
        f"scenario {scenario.name!r}{profile}: {shape} against {servers} ({scenario.system.transport}, "
        f"mode {scenario.system.mode}), {len(scenario.slas)} SLA(s)"
    )


def _run(args: argparse.Namespace) -> int:
    """``chaosbench run``: validate, refuse non-loopback targets, then play the scenario."""
    overrides = list(args.overrides)
    if args.find_capacity:
        overrides.insert(0, "load.capacity.enabled=true")
    scenario = _load(args.scenario, overrides, args.profile)
    if scenario is None:
        return 2
    if args.workers < 0:
        print("chaosbench: --workers must be 0 or more", file=sys.stderr)
        return 2
    remote = non_loopback_targets(scenario)
    if remote and not args.allow_non_loopback:
        print(
            "chaosbench: refusing to send load outside this machine without --allow-non-loopback:\n  "
            + "\n  ".join(remote),
            file=sys.stderr,
        )
        return 2
    from harness.orchestrator.run import RunOptions, run_scenario

    return run_scenario(
        scenario,
        RunOptions(
            out=args.out,
            progress_interval_s=args.progress_interval,
            workers=args.workers,
            web_ui=args.web_ui,
            compact_events=not args.no_compact,
        ),
    )


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
        scenario = _load(args.scenario, args.overrides, args.profile)
        if scenario is None:
            return 2
        if args.profile is None and scenario.profiles:
            try:
                validate_profiles(args.scenario, os.environ)
            except ScenarioError as exc:
                print(f"chaosbench: invalid scenario\n{exc}", file=sys.stderr)
                return 2
        print(f"{args.scenario}: ok — {describe(scenario)}")
        return 0
    if args.command == "run":
        try:
            return _run(args)
        except KeyboardInterrupt:
            # Only before the run's own handler is installed (validation, imports): nothing started.
            print("chaosbench: interrupted before the run started; nothing was started", file=sys.stderr)
            return 3
    if args.command == "report":
        return _exec_module("reports", ["render", str(args.run_dir)])
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""Tool-call throughput and latency: raw mcp SDK vs ResilientMCPManager, side by side in one run.

Variants (each against the reference weather server, calling ``get_current_weather``):

- ``raw_stdio``: ``mcp.client.stdio.stdio_client`` + ``ClientSession``.
- ``manager_stdio``: ``ResilientMCPManager`` over ``StdioTarget`` (events discarded).
- ``manager_stdio_events``: ``ResilientMCPManager`` over stdio with real ``EventWriter``s to a temp dir.
- ``raw_http``: ``streamable_http_client(url)`` + ``ClientSession`` (the SDK's default httpx client).
- ``manager_http``: ``ResilientMCPManager`` over ``HttpTarget`` (events discarded).

Every variant keeps one session open for the whole run (each stdio variant has its own
server process; the HTTP variants share one server). Each round warms every session up
and then times a fixed number of calls with a fixed number in flight; rounds alternate the
variant order, and each variant reports its median round. A ratio is the median over rounds
of the per-round ratio of two variants that ran next to each other. Ratios compare variants
of this run only: the machines are shared and noisy, never compare with another day's number.
Besides calls/s the table shows the client process's CPU time per call, which shared-machine
noise disturbs less and which isolates the client-side cost (the server's CPU is excluded).

Prints a table, then as its last line one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import psutil
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from harness.connection import HttpTarget, StdioTarget, unwrap_exception
from harness.events import EventSink, EventWriter
from harness.manager import ManagerConfig, ResilientMCPManager, ServerSpec
from harness.netutil import free_port
from harness.pool import PoolConfig

BENCH = "manager_throughput"
TOOL = "get_current_weather"
ARGS: dict[str, Any] = {"city": "Oslo"}
SERVER = "weather"
#: More than about 100 in flight overflows httpx's default pool; the brief caps HTTP at 50.
HTTP_MAX_IN_FLIGHT = 50
HEALTH_WAIT_S = 20.0
SESSION_OPEN_S = 30.0
CLOSE_WAIT_S = 30.0
CALL_TIMEOUT_S = 10.0

#: One tool call; returns True when the tool answered without ``isError``.
CallFn = Callable[[], Awaitable[bool]]


class BenchError(Exception):
    """The bench could not run (a server would not start, a phase took too long, calls failed)."""


@dataclass(frozen=True)
class Variant:
    key: str
    transport: str
    baseline: str
    description: str


VARIANTS: tuple[Variant, ...] = (
    Variant("raw_stdio", "stdio", "raw_stdio", "mcp SDK ClientSession over stdio"),
    Variant("manager_stdio", "stdio", "raw_stdio", "ResilientMCPManager over stdio"),
    Variant("manager_stdio_events", "stdio", "raw_stdio", "ResilientMCPManager over stdio + EventWriter"),
    Variant("raw_http", "http", "raw_http", "mcp SDK ClientSession over streamable HTTP"),
    Variant("manager_http", "http", "raw_http", "ResilientMCPManager over streamable HTTP"),
)
#: (JSON name, numerator, denominator): each ratio is the median over rounds of the per-round ratio.
#: Variants compared run next to each other in every round, so drift on the machine cancels out.
RATIOS: tuple[tuple[str, str, str], ...] = (
    ("manager_over_raw_stdio", "manager_stdio", "raw_stdio"),
    ("manager_over_raw_http", "manager_http", "raw_http"),
    ("events_over_no_events_stdio", "manager_stdio_events", "manager_stdio"),
    ("manager_events_over_raw_stdio", "manager_stdio_events", "raw_stdio"),
)


@dataclass(frozen=True)
class RoundResult:
    calls: int
    errors: int
    seconds: float
    cpu_s: float
    latencies_s: list[float]

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_call(self) -> float:
        """CPU time of this (client) process per call: the client-side cost, server excluded."""
        return self.cpu_s / self.calls * 1e6

    def percentile_ms(self, p: float) -> float:
        return nearest_rank(self.latencies_s, p) * 1000.0


def nearest_rank(values: list[float], p: float) -> float:
    """The p-th percentile by nearest rank (the project's definition); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100.0 * len(ordered)))
    return ordered[rank - 1]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python bench/manager_throughput.py",
        description=(
            "Tool-call throughput (calls/s) and latency (p50/p99) of the raw mcp SDK and of "
            "ResilientMCPManager, over stdio and streamable HTTP, measured side by side in one run. "
            "Prints a table and, as the last line, one JSON object."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="3 short rounds of 250 calls per variant (finishes in under a minute)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        default=50,
        help=f"calls in flight at once (default: 50; HTTP variants are capped at {HTTP_MAX_IN_FLIGHT})",
    )
    parser.add_argument(
        "--calls",
        type=_positive_int,
        default=None,
        help="timed calls per variant per round (default: 2000, or 250 with --quick)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=None,
        help="rounds per variant (default: 5, or 3 with --quick)",
    )
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


# -- servers and sessions -------------------------------------------------------------------------


def server_argv(transport: str, port: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", "fault_servers", "serve", SERVER, "--transport", transport, "--seed", "1"]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


def start_http_server(log: TextIO) -> tuple[subprocess.Popen[bytes], str]:
    """Start the weather server over HTTP and wait (bounded) until GET /healthz answers 200."""
    port = free_port()
    proc = subprocess.Popen(server_argv("http", port), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + HEALTH_WAIT_S
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"the HTTP weather server exited with {proc.returncode} (log: {log.name})")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).status_code == 200:
                    return proc, f"http://127.0.0.1:{port}/mcp"
            time.sleep(0.1)
        raise BenchError(f"the HTTP weather server was not healthy within {HEALTH_WAIT_S}s (log: {log.name})")
    except BaseException:
        stop_process(proc)
        raise


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def reap_children() -> list[int]:
    """Kill any child process of ours still alive (a stdio server the SDK failed to stop); their pids."""
    leftovers = psutil.Process().children(recursive=True)
    for child in leftovers:
        with contextlib.suppress(psutil.Error):
            child.kill()
    psutil.wait_procs(leftovers, timeout=5)
    return [child.pid for child in leftovers]


async def open_raw(stack: contextlib.AsyncExitStack, transport: str, url: str, errlog: TextIO) -> CallFn:
    if transport == "stdio":
        argv = server_argv("stdio")
        params = StdioServerParameters(command=argv[0], args=argv[1:])
        read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    else:
        read, write, _ = await stack.enter_async_context(streamable_http_client(url))
    session = await stack.enter_async_context(ClientSession(read, write))
    await session.initialize()

    async def call() -> bool:
        result = await session.call_tool(TOOL, ARGS)
        return not result.isError

    return call


async def open_manager(
    stack: contextlib.AsyncExitStack,
    transport: str,
    url: str,
    errlog: TextIO,
    max_in_flight: int,
    events_dir: Path | None,
) -> CallFn:
    target: HttpTarget | StdioTarget
    if transport == "stdio":
        argv = server_argv("stdio")
        target = StdioTarget(argv[0], argv[1:])
    else:
        target = HttpTarget(url)
    calls_sink: EventSink | None = None
    breaker_sink: EventSink | None = None
    if events_dir is not None:
        calls_sink = EventWriter(events_dir, "calls", "bench")
        breaker_sink = EventWriter(events_dir, "breaker", "bench")
        stack.callback(calls_sink.close)
        stack.callback(breaker_sink.close)
    manager = ResilientMCPManager(
        [ServerSpec(SERVER, target)],
        ManagerConfig(call_timeout_s=CALL_TIMEOUT_S, pool=PoolConfig(max_in_flight_per_session=max_in_flight)),
        calls_sink=calls_sink,
        breaker_sink=breaker_sink,
        errlog=errlog,
    )
    stack.push_async_callback(manager.aclose)
    failed = await manager.start()
    if failed:
        raise BenchError(f"the manager could not connect: {failed}")

    async def call() -> bool:
        await manager.call_tool(SERVER, TOOL, ARGS)
        return True

    return call


# -- measuring ------------------------------------------------------------------------------------


async def drive(call: CallFn, calls: int, concurrency: int, timeout_s: float) -> RoundResult:
    """Make ``calls`` calls with ``concurrency`` in flight; bounded by ``timeout_s`` overall."""
    latencies: list[float] = []
    errors = 0
    remaining = calls

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            try:
                ok = await call()
            except Exception:  # noqa: BLE001 - any failed call is counted; the bench then exits 1
                ok = False
            latencies.append(time.perf_counter() - t0)
            if not ok:
                errors += 1

    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, calls)):
                group.create_task(worker())
    except TimeoutError:
        raise BenchError(f"{calls} calls did not finish within {timeout_s:.0f}s") from None
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    return RoundResult(calls, errors, seconds, cpu_s, latencies)


@dataclass(frozen=True)
class Settings:
    calls: int
    rounds: int
    concurrency: int
    warmup: int
    quick: bool

    def in_flight(self, variant: Variant) -> int:
        return min(self.concurrency, HTTP_MAX_IN_FLIGHT) if variant.transport == "http" else self.concurrency

    @property
    def phase_timeout_s(self) -> float:
        return 60.0 + self.calls * 0.02


async def run_bench(
    settings: Settings, workdir: Path, url: str, errlog: TextIO
) -> dict[str, list[RoundResult]]:
    results: dict[str, list[RoundResult]] = {v.key: [] for v in VARIANTS}
    stack = contextlib.AsyncExitStack()
    try:
        calls: dict[str, CallFn] = {}
        for variant in VARIANTS:
            async with asyncio.timeout(SESSION_OPEN_S):
                if variant.key.startswith("raw_"):
                    calls[variant.key] = await open_raw(stack, variant.transport, url, errlog)
                else:
                    events_dir = workdir / "events" if variant.key.endswith("_events") else None
                    calls[variant.key] = await open_manager(
                        stack, variant.transport, url, errlog, settings.in_flight(variant), events_dir
                    )
        for round_no in range(settings.rounds):
            order = VARIANTS if round_no % 2 == 0 else tuple(reversed(VARIANTS))
            for variant in order:
                call, in_flight = calls[variant.key], settings.in_flight(variant)
                warm = await drive(call, settings.warmup, in_flight, settings.phase_timeout_s)
                timed = await drive(call, settings.calls, in_flight, settings.phase_timeout_s)
                if warm.errors or timed.errors:
                    raise BenchError(
                        f"{variant.key}: {warm.errors + timed.errors} of "
                        f"{warm.calls + timed.calls} calls failed (server log: {errlog.name})"
                    )
                results[variant.key].append(timed)
                print(
                    f"  round {round_no + 1}/{settings.rounds} {variant.key:<21} "
                    f"{timed.calls_per_s:8.0f} calls/s",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        # Close every session and stop the stdio servers, bounded (main() reaps any leftover).
        try:
            async with asyncio.timeout(CLOSE_WAIT_S):
                await stack.aclose()
        except Exception as exc:  # noqa: BLE001 - a close that fails must not hide how the run went
            leaf = unwrap_exception(exc)
            print(f"warning: closing the sessions: {type(leaf).__name__}: {leaf}", file=sys.stderr)
    return results


def median_round(rounds: list[RoundResult]) -> RoundResult:
    """The round with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(rounds, key=lambda r: r.calls_per_s)
    return ordered[(len(ordered) - 1) // 2]


def paired_ratio(
    results: dict[str, list[RoundResult]], a: str, b: str, metric: Callable[[RoundResult], float]
) -> float:
    """Median over rounds of ``metric(a) / metric(b)`` within the same round."""
    return statistics.median(metric(ra) / metric(rb) for ra, rb in zip(results[a], results[b], strict=True))


def _throughput(r: RoundResult) -> float:
    return r.calls_per_s


def _cpu(r: RoundResult) -> float:
    return r.cpu_us_per_call


def summarise(
    settings: Settings, results: dict[str, list[RoundResult]]
) -> tuple[list[list[str]], dict[str, Any]]:
    medians = {key: median_round(rounds) for key, rounds in results.items()}
    rows: list[list[str]] = []
    figures: dict[str, Any] = {
        "bench": BENCH,
        "quick": settings.quick,
        "calls": settings.calls,
        "rounds": settings.rounds,
        "concurrency_stdio": settings.concurrency,
        "concurrency_http": min(settings.concurrency, HTTP_MAX_IN_FLIGHT),
    }
    for variant in VARIANTS:
        m = medians[variant.key]
        if variant.baseline == variant.key:
            vs_raw = cpu_vs_raw = "baseline"
        else:
            vs_raw = f"{paired_ratio(results, variant.key, variant.baseline, _throughput):.2f}"
            cpu_vs_raw = f"{paired_ratio(results, variant.key, variant.baseline, _cpu):.2f}"
        rows.append(
            [
                variant.key,
                str(settings.in_flight(variant)),
                str(m.calls),
                f"{m.seconds:.2f}",
                f"{m.calls_per_s:.0f}",
                f"{m.percentile_ms(50):.1f}",
                f"{m.percentile_ms(99):.1f}",
                f"{m.cpu_us_per_call:.0f}",
                vs_raw,
                cpu_vs_raw,
            ]
        )
        figures[f"{variant.key}_calls_per_s"] = round(m.calls_per_s, 1)
        figures[f"{variant.key}_p50_ms"] = round(m.percentile_ms(50), 3)
        figures[f"{variant.key}_p99_ms"] = round(m.percentile_ms(99), 3)
        figures[f"{variant.key}_client_cpu_us_per_call"] = round(m.cpu_us_per_call, 1)
        figures[f"{variant.key}_rounds_calls_per_s"] = [round(r.calls_per_s, 1) for r in results[variant.key]]
    for name, a, b in RATIOS:
        figures[name] = round(paired_ratio(results, a, b, _throughput), 3)
    for name, a, b in RATIOS:
        cpu_name = name.replace("_over_", "_cpu_over_", 1)
        figures[cpu_name] = round(paired_ratio(results, a, b, _cpu), 3)
    return rows, figures


HEADER = [
    "variant",
    "in flight",
    "calls",
    "seconds",
    "calls/s",
    "p50 ms",
    "p99 ms",
    "cpu us/call",
    "vs raw",
    "cpu vs raw",
]

NOTES = """calls/s, p50, p99, cpu: the variant's median round (by calls/s). cpu us/call: CPU time of this client
process per call (the client-side cost; the server's CPU is not included), steadier than calls/s on a
shared machine. vs raw / cpu vs raw: median over rounds of the per-round ratio to the raw SDK on the same
transport (> 1 is faster / costs more CPU). JSON: events_over_no_events_stdio = manager_stdio_events over
manager_stdio."""


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [HEADER, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so the cleanup (stop every server) runs as for Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    settings = Settings(
        calls=args.calls or (250 if args.quick else 2000),
        rounds=args.rounds or (3 if args.quick else 5),
        concurrency=args.concurrency,
        warmup=50 if args.quick else 300,
        quick=args.quick,
    )
    with tempfile.TemporaryDirectory(prefix="bench-manager-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "servers.log"
        try:
            with open(log_path, "w", encoding="utf-8") as log:
                http_proc, url = start_http_server(log)
                try:
                    results = asyncio.run(run_bench(settings, workdir, url, log))
                finally:
                    stop_process(http_proc)
                    leftovers = reap_children()
                    if leftovers:
                        print(f"warning: killed leftover server processes {leftovers}", file=sys.stderr)
        except BenchError as exc:
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if log_path.exists() else ""
            print(f"{BENCH}: error: {exc}\n{tail}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f"{BENCH}: interrupted; every server process was stopped", file=sys.stderr)
            return 130
        except BaseExceptionGroup as group:
            # The SDK's task groups wrap an interrupt that lands inside them.
            if group.subgroup(KeyboardInterrupt) is None:
                raise
            print(f"{BENCH}: interrupted; every server process was stopped", file=sys.stderr)
            return 130
        rows, figures = summarise(settings, results)
    print(
        f"{BENCH}: {settings.calls} calls x {settings.rounds} round(s) per variant, median round shown; "
        f"python {sys.version.split()[0]}, {psutil.cpu_count()} CPUs"
    )
    print(format_table(rows))
    print(NOTES)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

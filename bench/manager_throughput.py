"""Tool-call and agent-turn throughput and CPU cost: raw mcp SDK vs ResilientMCPManager vs the
default langchain-mcp-adapters path, and agent mode vs tools mode, side by side in one run.

Tool-call variants (each against the reference weather server, calling ``get_current_weather``):

- ``raw_stdio``: ``mcp.client.stdio.stdio_client`` + ``ClientSession``.
- ``manager_stdio``: ``ResilientMCPManager`` over ``StdioTarget`` (events discarded).
- ``manager_stdio_events``: ``ResilientMCPManager`` over stdio with real ``EventWriter``s to a temp dir.
- ``raw_http``: ``streamable_http_client(url)`` + ``ClientSession`` (the SDK's default httpx client).
- ``manager_http``: ``ResilientMCPManager`` over ``HttpTarget`` (events discarded).
- ``adapters_stdio`` / ``adapters_http``: langchain-mcp-adapters' default path,
  ``MultiServerMCPClient({...}).get_tools()`` and the tool's ``ainvoke``; every call opens a new
  session (on stdio a new server process), so these run a small fixed number of calls, once.

Turn variants (one ``ResilientMCPManager`` over stdio, ``AgentConfig(tool_calls_per_turn=2,
ttft_s=0, tokens_per_s=0)``, no simulated LLM latency):

- ``tools_turn``: ``build_agent("tools", ...)`` (the scripted agent) ``.run_turn``.
- ``agent_turn``: ``build_agent("agent", ...)`` (LangChain ``create_agent`` over the simulated model).

Each raw/manager variant keeps one session open for the whole run (each stdio variant has its
own server process; the HTTP variants share one server) and is measured at every concurrency
level (default 1 and 50 calls in flight); the turn variants at 1 and 32 turns in flight. Each
round warms a variant up and then times a fixed number of calls; rounds alternate the variant
order, and each variant reports its median round. A ratio is the median over rounds of the
per-round ratio of two variants that ran next to each other, except the ratios to the adapters
(measured once, after the rounds), which divide median rates. Ratios compare variants of this run
only: the machines are shared and noisy, never compare with another day's number.

CPU: "cpu ms/call" is this (client) process's CPU time per call (``time.process_time``: every
thread of this process), steadier than calls/s on a shared machine. The server's CPU is separate:
"srv cpu ms/call" samples the server process with psutil (for ``adapters_stdio``, the CPU of the
server processes it started and reaped, from ``getrusage(RUSAGE_CHILDREN)``).

Prints the tables, then as its last line one JSON object with the figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import httpx
import psutil
from langchain_core.messages import ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.sessions import Connection, StdioConnection, StreamableHttpConnection
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client

from harness.agents import ResilientAgent, build_agent
from harness.connection import HttpTarget, StdioTarget, describe, unwrap_exception
from harness.events import EventSink, EventWriter
from harness.manager import ManagerConfig, ResilientMCPManager, ServerSpec
from harness.netutil import free_port
from harness.pool import PoolConfig
from harness.scenario import AgentConfig

BENCH = "manager_throughput"
TOOL = "get_current_weather"
ARGS: dict[str, Any] = {"city": "Oslo"}
SERVER = "weather"
#: More than about 100 in flight overflows httpx's default pool; the brief caps HTTP at 50.
HTTP_MAX_IN_FLIGHT = 50
#: The adapters start a server process per call on stdio: more than one at once on a small
#: machine measures process start-up contention, not the client, so stdio adapters run at 1.
ADAPTERS_STDIO_MAX_IN_FLIGHT = 1
#: Turns in flight for the agent-vs-tools comparison (the JSON's headline figures are at 1).
TURN_LEVELS: tuple[int, ...] = (1, 32)
AGENT_CONFIG = AgentConfig(tool_calls_per_turn=2, ttft_s=0, tokens_per_s=0)
AGENT_SEED = 7
#: Distinct session ids the turns cycle through.
TURN_SESSIONS = 50
HEALTH_WAIT_S = 20.0
SESSION_OPEN_S = 30.0
CLOSE_WAIT_S = 30.0
CALL_TIMEOUT_S = 10.0
#: Targets of the issue.
TARGET_MANAGER_OVER_RAW = 0.9
TARGET_MANAGER_OVER_ADAPTERS_STDIO = 100.0

#: One tool call (or one agent turn); returns True when it succeeded.
CallFn = Callable[[], Awaitable[bool]]
#: Cumulative CPU seconds of the server behind a variant; None when it cannot be sampled.
CpuFn = Callable[[], float | None]


class BenchError(Exception):
    """The bench could not run (a server would not start, a phase took too long, calls failed)."""


@dataclass(frozen=True)
class Variant:
    key: str
    transport: str
    baseline: str
    description: str


CALL_VARIANTS: tuple[Variant, ...] = (
    Variant("raw_stdio", "stdio", "raw_stdio", "mcp SDK ClientSession over stdio"),
    Variant("manager_stdio", "stdio", "raw_stdio", "ResilientMCPManager over stdio"),
    Variant("manager_stdio_events", "stdio", "raw_stdio", "ResilientMCPManager over stdio + EventWriter"),
    Variant("raw_http", "http", "raw_http", "mcp SDK ClientSession over streamable HTTP"),
    Variant("manager_http", "http", "raw_http", "ResilientMCPManager over streamable HTTP"),
)
ADAPTER_VARIANTS: tuple[Variant, ...] = (
    Variant("adapters_stdio", "stdio", "raw_stdio", "langchain-mcp-adapters get_tools() over stdio"),
    Variant("adapters_http", "http", "raw_http", "langchain-mcp-adapters get_tools() over HTTP"),
)
TURN_VARIANTS: tuple[Variant, ...] = (
    Variant("tools_turn", "stdio", "tools_turn", 'build_agent("tools") over a stdio manager'),
    Variant("agent_turn", "stdio", "tools_turn", 'build_agent("agent") over a stdio manager'),
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
    server_cpu_s: float | None
    latencies_s: list[float]

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_ms_per_call(self) -> float:
        """CPU time of this (client) process per call: the client-side cost, server excluded."""
        return self.cpu_s / self.calls * 1e3

    @property
    def server_cpu_ms_per_call(self) -> float | None:
        return None if self.server_cpu_s is None else self.server_cpu_s / self.calls * 1e3

    def percentile_ms(self, p: float) -> float:
        return nearest_rank(self.latencies_s, p) * 1000.0


#: Rounds of every measured (variant key, concurrency level).
Results = dict[tuple[str, int], list[RoundResult]]


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
            "Calls/s, latency and CPU ms per call of the raw mcp SDK, ResilientMCPManager and "
            "langchain-mcp-adapters' default get_tools() path, over stdio and streamable HTTP, at 1 and "
            "50 calls in flight; and turns/s and CPU ms per turn of agent mode vs tools mode; measured "
            "side by side in one run. Prints tables and, as the last line, one JSON object."
        ),
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=(
            "a short run that finishes in under a minute: 3 rounds of 100 calls per variant and "
            "concurrency level (20 warm-up calls) and of 30 turns per mode, then 4 stdio / 10 HTTP "
            "adapter calls (50 at 50 in flight); without it: 7 rounds of 2000 calls (100 warm-up; rounds of a few seconds, as shorter ones vary too much) "
            "and 200 turns, then 10 / 30 (100) adapter calls"
        ),
    )
    parser.add_argument(
        "--concurrency",
        type=_levels,
        default=(1, 50),
        help=(
            "comma-separated calls-in-flight levels (default: 1,50; HTTP variants are capped at "
            f"{HTTP_MAX_IN_FLIGHT}, stdio adapters at {ADAPTERS_STDIO_MAX_IN_FLIGHT})"
        ),
    )
    parser.add_argument(
        "--calls",
        type=_positive_int,
        default=None,
        help="timed calls per variant per level per round (default: 2000, or 100 with --quick)",
    )
    parser.add_argument(
        "--turns",
        type=_positive_int,
        default=None,
        help="timed agent/tools turns per mode per level per round (default: 200, or 30 with --quick)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive_int,
        default=None,
        help="rounds per variant (default: 7, or 3 with --quick)",
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


def _levels(text: str) -> tuple[int, ...]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError("expected a comma-separated list of positive integers")
    return tuple(sorted({_positive_int(p) for p in parts}))


# -- servers and sessions -------------------------------------------------------------------------


def server_argv(transport: str, port: int | None = None) -> list[str]:
    argv = [sys.executable, "-m", "fault_servers", "serve", SERVER, "--transport", transport, "--seed", "1"]
    if port is not None:
        argv += ["--port", str(port)]
    return argv


def start_http_server(log: TextIO) -> tuple[subprocess.Popen[bytes], str]:
    """Start the weather server over HTTP and wait (bounded) until GET /healthz answers 200."""
    port = free_port()
    # Its own session, as the SDK starts stdio servers: a Ctrl-C at the terminal reaches only the
    # bench, which then stops every server in order (instead of losing the server mid-call).
    proc = subprocess.Popen(
        server_argv("http", port),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
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


def child_pids() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def process_cpu(pids: Iterable[int]) -> CpuFn:
    """Sampler of the summed CPU time (user + system) of the processes ``pids``."""
    procs: list[psutil.Process] = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))

    def sample() -> float | None:
        if not procs:
            return None
        try:
            return sum(t.user + t.system for t in (p.cpu_times() for p in procs))
        except psutil.Error:
            return None

    return sample


def reaped_children_cpu() -> float | None:
    """CPU time of every child process that has exited and been waited for (adapters' stdio servers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


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


async def start_manager(
    stack: contextlib.AsyncExitStack,
    target: HttpTarget | StdioTarget,
    config: ManagerConfig,
    errlog: TextIO,
    events_dir: Path | None = None,
) -> ResilientMCPManager:
    calls_sink: EventSink | None = None
    breaker_sink: EventSink | None = None
    if events_dir is not None:
        calls_sink = EventWriter(events_dir, "calls", "bench")
        breaker_sink = EventWriter(events_dir, "breaker", "bench")
        stack.callback(calls_sink.close)
        stack.callback(breaker_sink.close)
    manager = ResilientMCPManager(
        [ServerSpec(SERVER, target)], config, calls_sink=calls_sink, breaker_sink=breaker_sink, errlog=errlog
    )
    stack.push_async_callback(manager.aclose)
    failed = await manager.start()
    if failed:
        raise BenchError(f"the manager could not connect: {failed}")
    return manager


def stdio_target() -> StdioTarget:
    argv = server_argv("stdio")
    return StdioTarget(argv[0], argv[1:])


async def open_manager(
    stack: contextlib.AsyncExitStack,
    transport: str,
    url: str,
    errlog: TextIO,
    max_in_flight: int,
    events_dir: Path | None,
) -> CallFn:
    target = stdio_target() if transport == "stdio" else HttpTarget(url)
    config = ManagerConfig(
        call_timeout_s=CALL_TIMEOUT_S, pool=PoolConfig(max_in_flight_per_session=max_in_flight)
    )
    manager = await start_manager(stack, target, config, errlog, events_dir)

    async def call() -> bool:
        await manager.call_tool(SERVER, TOOL, ARGS)
        return True

    return call


async def open_adapters(transport: str, url: str) -> CallFn:
    """langchain-mcp-adapters' default path: ``MultiServerMCPClient(...).get_tools()``, no session kept.

    The call passes a tool call (not bare arguments) to ``ainvoke`` so the answer is a
    ``ToolMessage`` whose ``status`` tells a tool error apart; the path is the same.
    """
    connection: Connection
    if transport == "stdio":
        argv = server_argv("stdio")
        connection = StdioConnection(transport="stdio", command=argv[0], args=argv[1:])
    else:
        connection = StreamableHttpConnection(transport="streamable_http", url=url)
    client = MultiServerMCPClient({SERVER: connection})
    tools = await client.get_tools()
    tool = next((t for t in tools if t.name == TOOL), None)
    if tool is None:
        raise BenchError(f"the adapters' get_tools() has no {TOOL!r}: {[t.name for t in tools]}")
    ids = itertools.count()

    async def call() -> bool:
        message = await tool.ainvoke({"type": "tool_call", "name": TOOL, "args": ARGS, "id": f"b{next(ids)}"})
        return isinstance(message, ToolMessage) and message.status == "success"

    return call


def turn_fn(agent: ResilientAgent) -> CallFn:
    turns = itertools.count()

    async def turn() -> bool:
        i = next(turns)
        result = await agent.run_turn(f"bench-{i % TURN_SESSIONS}", i)
        return result.ok

    return turn


async def open_turn_variants(
    stack: contextlib.AsyncExitStack, errlog: TextIO
) -> tuple[dict[str, CallFn], CpuFn]:
    """One stdio manager and an agent of each mode on it; the turn functions and the server's CPU."""
    before = child_pids()
    config = ManagerConfig(call_timeout_s=CALL_TIMEOUT_S, pool=PoolConfig(max_in_flight_per_session=64))
    manager = await start_manager(stack, stdio_target(), config, errlog)
    server_cpu = process_cpu(child_pids() - before)
    kinds = {SERVER: SERVER}
    tools_agent = await build_agent("tools", manager, kinds, AGENT_CONFIG, seed=AGENT_SEED)
    langchain_agent = await build_agent("agent", manager, kinds, AGENT_CONFIG, seed=AGENT_SEED)
    return {"tools_turn": turn_fn(tools_agent), "agent_turn": turn_fn(langchain_agent)}, server_cpu


# -- measuring ------------------------------------------------------------------------------------


async def drive(
    call: CallFn, calls: int, concurrency: int, timeout_s: float, server_cpu: CpuFn
) -> RoundResult:
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

    server_start = server_cpu()
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        async with asyncio.timeout(timeout_s), asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, calls)):
                group.create_task(worker())
    except TimeoutError:
        raise BenchError(f"{calls} calls did not finish within {timeout_s:.0f}s") from None
    seconds, cpu_s = time.perf_counter() - start, time.process_time() - cpu_start
    server_end = server_cpu()
    server_s = None if server_start is None or server_end is None else server_end - server_start
    return RoundResult(calls, errors, seconds, cpu_s, server_s, latencies)


@dataclass(frozen=True)
class Settings:
    calls: int
    turns: int
    rounds: int
    levels: tuple[int, ...]
    warmup: int
    turn_warmup: int
    adapter_calls: dict[tuple[str, int], int]
    quick: bool

    def in_flight(self, variant: Variant, level: int) -> int:
        if variant.key == "adapters_stdio":
            return min(level, ADAPTERS_STDIO_MAX_IN_FLIGHT)
        return min(level, HTTP_MAX_IN_FLIGHT) if variant.transport == "http" else level

    @property
    def top(self) -> int:
        """The highest level: the JSON's keys without a ``_cN`` suffix are at this level."""
        return self.levels[-1]

    def phase_timeout_s(self, calls: int, per_call_s: float = 0.02) -> float:
        return 60.0 + calls * per_call_s


def adapter_levels(settings: Settings) -> list[tuple[Variant, int]]:
    """The adapters' (variant, level)s: stdio only at levels its cap leaves distinct."""
    units: list[tuple[Variant, int]] = []
    for variant in ADAPTER_VARIANTS:
        seen: set[int] = set()
        for level in settings.levels:
            in_flight = settings.in_flight(variant, level)
            if in_flight not in seen:
                seen.add(in_flight)
                units.append((variant, level))
    return units


def adapter_calls(settings: Settings, variant: Variant, level: int) -> int:
    base = settings.adapter_calls[(variant.transport, 1)]
    if settings.in_flight(variant, level) == 1:
        return base
    return max(settings.adapter_calls[(variant.transport, 50)], settings.in_flight(variant, level))


def _progress(round_label: str, key: str, in_flight: int, result: RoundResult, unit: str) -> None:
    print(
        f"  {round_label} {key:<21} x{in_flight:<3} {result.calls_per_s:8.1f} {unit}/s",
        file=sys.stderr,
        flush=True,
    )


async def measure(
    key: str,
    call: CallFn,
    warmup: int,
    calls: int,
    in_flight: int,
    timeout_s: float,
    server_cpu: CpuFn,
    errlog: TextIO,
) -> RoundResult:
    warm = await drive(call, warmup, in_flight, timeout_s, server_cpu) if warmup else None
    timed = await drive(call, calls, in_flight, timeout_s, server_cpu)
    errors = timed.errors + (warm.errors if warm else 0)
    if errors:
        total = timed.calls + (warm.calls if warm else 0)
        raise BenchError(f"{key} x{in_flight}: {errors} of {total} calls failed (server log: {errlog.name})")
    return timed


async def run_bench(settings: Settings, workdir: Path, url: str, http_pid: int, errlog: TextIO) -> Results:
    results: Results = {}
    http_cpu = process_cpu([http_pid])
    stack = contextlib.AsyncExitStack()
    try:
        calls: dict[str, CallFn] = {}
        server_cpu: dict[str, CpuFn] = {}
        for variant in CALL_VARIANTS:
            before = child_pids()
            async with asyncio.timeout(SESSION_OPEN_S):
                if variant.key.startswith("raw_"):
                    calls[variant.key] = await open_raw(stack, variant.transport, url, errlog)
                else:
                    events_dir = workdir / "events" if variant.key.endswith("_events") else None
                    max_in_flight = max(settings.in_flight(variant, level) for level in settings.levels)
                    calls[variant.key] = await open_manager(
                        stack, variant.transport, url, errlog, max_in_flight, events_dir
                    )
            server_cpu[variant.key] = (
                process_cpu(child_pids() - before) if variant.transport == "stdio" else http_cpu
            )
        async with asyncio.timeout(SESSION_OPEN_S):
            turn_calls, turn_cpu = await open_turn_variants(stack, errlog)
        calls.update(turn_calls)
        server_cpu.update(dict.fromkeys(turn_calls, turn_cpu))

        for round_no in range(settings.rounds):
            label = f"round {round_no + 1}/{settings.rounds}"
            forward = round_no % 2 == 0
            for level in settings.levels:
                for variant in CALL_VARIANTS if forward else reversed(CALL_VARIANTS):
                    in_flight = settings.in_flight(variant, level)
                    timed = await measure(
                        variant.key,
                        calls[variant.key],
                        settings.warmup,
                        settings.calls,
                        in_flight,
                        settings.phase_timeout_s(settings.warmup + settings.calls),
                        server_cpu[variant.key],
                        errlog,
                    )
                    results.setdefault((variant.key, level), []).append(timed)
                    _progress(label, variant.key, in_flight, timed, "calls")
            for level in TURN_LEVELS:
                for variant in TURN_VARIANTS if forward else reversed(TURN_VARIANTS):
                    timed = await measure(
                        variant.key,
                        calls[variant.key],
                        settings.turn_warmup,
                        settings.turns,
                        level,
                        settings.phase_timeout_s(settings.turn_warmup + settings.turns, 0.2),
                        server_cpu[variant.key],
                        errlog,
                    )
                    results.setdefault((variant.key, level), []).append(timed)
                    _progress(label, variant.key, level, timed, "turns")

        # The adapters: one phase after the rounds (a new session, and on stdio a new server
        # process, per call). One untimed call first warms the imports up.
        for variant, level in adapter_levels(settings):
            async with asyncio.timeout(SESSION_OPEN_S):
                call = await open_adapters(variant.transport, url)
            cpu = reaped_children_cpu if variant.transport == "stdio" else http_cpu
            n, in_flight = adapter_calls(settings, variant, level), settings.in_flight(variant, level)
            timed = await measure(
                variant.key, call, 1, n, in_flight, settings.phase_timeout_s(n + 1, 5.0), cpu, errlog
            )
            results[(variant.key, level)] = [timed]
            _progress("adapters", variant.key, in_flight, timed, "calls")
    finally:
        # Close every session and stop the stdio servers, bounded (main() reaps any leftover).
        try:
            async with asyncio.timeout(CLOSE_WAIT_S):
                await stack.aclose()
        except Exception as exc:  # noqa: BLE001 - a close that fails must not hide how the run went
            leaf = unwrap_exception(exc)
            print(f"warning: closing the sessions: {type(leaf).__name__}: {leaf}", file=sys.stderr)
    return results


# -- summarising ----------------------------------------------------------------------------------


def median_round(rounds: list[RoundResult]) -> RoundResult:
    """The round with the median throughput (the lower middle one for an even count)."""
    ordered = sorted(rounds, key=lambda r: r.calls_per_s)
    return ordered[(len(ordered) - 1) // 2]


def paired_ratio(a: list[RoundResult], b: list[RoundResult], metric: Callable[[RoundResult], float]) -> float:
    """Median over rounds of ``metric(a) / metric(b)`` within the same round."""
    return statistics.median(metric(ra) / metric(rb) for ra, rb in zip(a, b, strict=True))


def _throughput(r: RoundResult) -> float:
    return r.calls_per_s


def _cpu(r: RoundResult) -> float:
    return r.cpu_ms_per_call


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _suffixes(level: int, top: int) -> list[str]:
    """JSON key suffixes for a level: ``_cN`` always, and none for the top level (the old keys)."""
    return [f"_c{level}", ""] if level == top else [f"_c{level}"]


def summarise(
    settings: Settings, results: Results
) -> tuple[list[list[str]], list[list[str]], list[str], dict[str, Any]]:
    medians = {key: median_round(rounds) for key, rounds in results.items()}
    figures: dict[str, Any] = {
        "bench": BENCH,
        "quick": settings.quick,
        "calls": settings.calls,
        "turns": settings.turns,
        "rounds": settings.rounds,
        "concurrency_levels": list(settings.levels),
        "concurrency_stdio": settings.top,
        "concurrency_http": min(settings.top, HTTP_MAX_IN_FLIGHT),
        "turn_concurrency_levels": list(TURN_LEVELS),
    }

    # Tool calls: raw and manager at every level, then the adapters.
    call_rows: list[list[str]] = []
    for level in settings.levels:
        for variant in CALL_VARIANTS:
            rounds = results[(variant.key, level)]
            base = results[(variant.baseline, level)]
            m = medians[(variant.key, level)]
            if variant.baseline == variant.key:
                vs_raw = cpu_vs_raw = "baseline"
            else:
                vs_raw = f"{paired_ratio(rounds, base, _throughput):.2f}"
                cpu_vs_raw = f"{paired_ratio(rounds, base, _cpu):.2f}"
            call_rows.append(
                _call_row(variant.key, settings.in_flight(variant, level), m, vs_raw, cpu_vs_raw)
            )
            for sfx in _suffixes(level, settings.top):
                _variant_figures(figures, variant.key, sfx, m, rounds)
        for name, a, b in RATIOS:
            ra, rb = results[(a, level)], results[(b, level)]
            cpu_name = name.replace("_over_", "_cpu_over_", 1)
            for sfx in _suffixes(level, settings.top):
                figures[f"{name}{sfx}"] = _r(paired_ratio(ra, rb, _throughput))
                figures[f"{cpu_name}{sfx}"] = _r(paired_ratio(ra, rb, _cpu))
    for variant, level in adapter_levels(settings):
        m = medians[(variant.key, level)]
        raw = medians[(variant.baseline, level)]
        manager = medians[(variant.baseline.replace("raw_", "manager_"), level)]
        vs_raw = f"{m.calls_per_s / raw.calls_per_s:.4f}"
        cpu_vs_raw = f"{m.cpu_ms_per_call / raw.cpu_ms_per_call:.1f}"
        call_rows.append(_call_row(variant.key, settings.in_flight(variant, level), m, vs_raw, cpu_vs_raw))
        sfx = f"_c{level}"
        _variant_figures(figures, variant.key, sfx, m, results[(variant.key, level)])
        figures[f"manager_over_{variant.key}{sfx}"] = _r(manager.calls_per_s / m.calls_per_s, 1)
        figures[f"manager_cpu_over_{variant.key}{sfx}"] = _r(manager.cpu_ms_per_call / m.cpu_ms_per_call, 5)
    # The headline manager-over-adapters ratios: both at 1 in flight (a fair, same-concurrency ratio).
    for transport in ("stdio", "http"):
        figures[f"manager_over_adapters_{transport}"] = figures.get(f"manager_over_adapters_{transport}_c1")
        figures[f"adapters_{transport}_calls_per_s"] = figures.get(f"adapters_{transport}_calls_per_s_c1")
        figures[f"adapters_{transport}_client_cpu_ms_per_call"] = figures.get(
            f"adapters_{transport}_client_cpu_ms_per_call_c1"
        )

    # Agent turns: tools mode vs agent mode.
    turn_rows: list[list[str]] = []
    for level in TURN_LEVELS:
        tools_rounds = results[("tools_turn", level)]
        for variant in TURN_VARIANTS:
            rounds = results[(variant.key, level)]
            m = medians[(variant.key, level)]
            if variant.key == "tools_turn":
                vs_tools = cpu_vs_tools = "baseline"
            else:
                vs_tools = f"{paired_ratio(rounds, tools_rounds, _throughput):.2f}"
                cpu_vs_tools = f"{paired_ratio(rounds, tools_rounds, _cpu):.2f}"
            turn_rows.append(_call_row(variant.key, level, m, vs_tools, cpu_vs_tools))
            mode = variant.key.removesuffix("_turn")
            for sfx in [f"_c{level}", ""] if level == 1 else [f"_c{level}"]:
                figures[f"{mode}_turns_per_s{sfx}"] = _r(m.calls_per_s, 1)
                figures[f"{mode}_turn_cpu_ms{sfx}"] = _r(m.cpu_ms_per_call)
                figures[f"{mode}_turn_server_cpu_ms{sfx}"] = _r(m.server_cpu_ms_per_call)
                figures[f"{mode}_turn_p50_ms{sfx}"] = _r(m.percentile_ms(50))
                figures[f"{mode}_turn_p99_ms{sfx}"] = _r(m.percentile_ms(99))
                figures[f"{mode}_rounds_turns_per_s{sfx}"] = [round(r.calls_per_s, 1) for r in rounds]
        agent_rounds = results[("agent_turn", level)]
        for sfx in [f"_c{level}", ""] if level == 1 else [f"_c{level}"]:
            figures[f"agent_over_tools_turns{sfx}"] = _r(
                paired_ratio(agent_rounds, tools_rounds, _throughput)
            )
            figures[f"agent_over_tools_cpu{sfx}"] = _r(paired_ratio(agent_rounds, tools_rounds, _cpu))

    # Targets: manager >= 0.9 x raw SDK (both transports, every level), >= 100 x adapters on stdio.
    over_raw = {
        f"manager_over_raw_{t}_c{level}": figures[f"manager_over_raw_{t}_c{level}"]
        for level in settings.levels
        for t in ("stdio", "http")
    }
    over_adapters = figures.get("manager_over_adapters_stdio")
    figures["target_manager_ge_0_9_raw"] = all(v >= TARGET_MANAGER_OVER_RAW for v in over_raw.values())
    figures["target_manager_ge_100x_adapters_stdio"] = (
        None if over_adapters is None else over_adapters >= TARGET_MANAGER_OVER_ADAPTERS_STDIO
    )
    targets = [
        f"target manager >= {TARGET_MANAGER_OVER_RAW} x raw SDK: "
        + ("met" if figures["target_manager_ge_0_9_raw"] else "NOT met")
        + " ("
        + ", ".join(f"{k.removeprefix('manager_over_')} {v:.2f}" for k, v in over_raw.items())
        + ")",
        f"target manager >= {TARGET_MANAGER_OVER_ADAPTERS_STDIO:.0f} x default adapters on stdio: "
        + (
            "not measured (needs level 1)"
            if over_adapters is None
            else ("met" if over_adapters >= TARGET_MANAGER_OVER_ADAPTERS_STDIO else "NOT met")
            + f" ({over_adapters:.0f}x at 1 in flight; HTTP: "
            + f"{_fmt(figures.get('manager_over_adapters_http'), '.0f')}x)"
        ),
    ]
    return call_rows, turn_rows, targets, figures


def _call_row(key: str, in_flight: int, m: RoundResult, vs: str, cpu_vs: str) -> list[str]:
    return [
        key,
        str(in_flight),
        str(m.calls),
        f"{m.seconds:.2f}",
        f"{m.calls_per_s:.1f}",
        f"{m.percentile_ms(50):.2f}",
        f"{m.percentile_ms(99):.2f}",
        f"{m.cpu_ms_per_call:.3f}",
        _fmt(m.server_cpu_ms_per_call, ".3f"),
        vs,
        cpu_vs,
    ]


def _variant_figures(
    figures: dict[str, Any], key: str, sfx: str, m: RoundResult, rounds: list[RoundResult]
) -> None:
    figures[f"{key}_calls_per_s{sfx}"] = round(m.calls_per_s, 1)
    figures[f"{key}_p50_ms{sfx}"] = round(m.percentile_ms(50), 3)
    figures[f"{key}_p99_ms{sfx}"] = round(m.percentile_ms(99), 3)
    figures[f"{key}_client_cpu_us_per_call{sfx}"] = round(m.cpu_ms_per_call * 1e3, 1)
    figures[f"{key}_client_cpu_ms_per_call{sfx}"] = round(m.cpu_ms_per_call, 4)
    figures[f"{key}_server_cpu_ms_per_call{sfx}"] = _r(m.server_cpu_ms_per_call, 4)
    figures[f"{key}_rounds_calls_per_s{sfx}"] = [round(r.calls_per_s, 1) for r in rounds]


CALL_HEADER = [
    "variant",
    "in flight",
    "calls",
    "seconds",
    "calls/s",
    "p50 ms",
    "p99 ms",
    "cpu ms/call",
    "srv cpu ms/call",
    "vs raw",
    "cpu vs raw",
]
TURN_HEADER = [
    "mode",
    "in flight",
    "turns",
    "seconds",
    "turns/s",
    "p50 ms",
    "p99 ms",
    "cpu ms/turn",
    "srv cpu ms/turn",
    "vs tools",
    "cpu vs tools",
]

NOTES = f"""Figures: the variant's median round (by calls/s). cpu ms/call: CPU time of this client process per call
(time.process_time, every thread), steadier than calls/s on a shared machine. The server's CPU is separate:
srv cpu ms/call samples the server process with psutil (the HTTP variants share one server; adapters_stdio
counts the server processes it started and reaped, getrusage(RUSAGE_CHILDREN)). vs raw / cpu vs raw: median
over rounds of the per-round ratio to the raw SDK on the same transport at the same level (> 1 is faster /
costs more CPU); for the adapters (one phase after the rounds, a new session, on stdio a new server process,
per call; stdio capped at {ADAPTERS_STDIO_MAX_IN_FLIGHT} in flight) a ratio of median rates. Turns: the same
plan (2 tool calls per turn, no simulated LLM latency) through build_agent("tools") and build_agent("agent").
JSON: keys ending in _cN are at N in flight; the call keys without the suffix are at the highest level, the
turn keys without it at 1 in flight (sequential); manager_over_adapters_* divides manager calls/s at 1 in
flight by the adapters' at 1 in flight."""


def format_table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _interrupt_on_sigterm() -> None:
    """Turn SIGTERM into KeyboardInterrupt so the cleanup (stop every server) runs as for Ctrl-C."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)


def make_settings(args: argparse.Namespace) -> Settings:
    quick: bool = args.quick
    return Settings(
        calls=args.calls or (100 if quick else 2000),
        turns=args.turns or (30 if quick else 200),
        rounds=args.rounds or (3 if quick else 7),
        levels=args.concurrency,
        warmup=20 if quick else 100,
        turn_warmup=5 if quick else 30,
        adapter_calls=(
            {("stdio", 1): 4, ("http", 1): 10, ("stdio", 50): 4, ("http", 50): 50}
            if quick
            else {("stdio", 1): 10, ("http", 1): 30, ("stdio", 50): 10, ("http", 50): 100}
        ),
        quick=quick,
    )


def _interrupted(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM, also when the SDK's task groups wrap it."""
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(KeyboardInterrupt) is not None
    return isinstance(exc, KeyboardInterrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _interrupt_on_sigterm()
    settings = make_settings(args)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-manager-") as tmp:
        workdir = Path(tmp)
        log_path = workdir / "servers.log"
        http_exit: int | None = None
        try:
            with open(log_path, "w", encoding="utf-8") as log:
                http_proc, url = start_http_server(log)
                try:
                    results = asyncio.run(run_bench(settings, workdir, url, http_proc.pid, log))
                finally:
                    http_exit = http_proc.poll()
                    stop_process(http_proc)
                    leftovers = reap_children()
                    if leftovers:
                        print(f"warning: killed leftover server processes {leftovers}", file=sys.stderr)
        except BaseException as exc:  # every end is reported, after every server was stopped
            if _interrupted(exc):
                print(f"{BENCH}: interrupted; every server process was stopped", file=sys.stderr)
                return 130
            if isinstance(exc, SystemExit):
                raise
            leaf = unwrap_exception(exc)
            if isinstance(exc, BenchError):
                reason = str(exc)
            elif isinstance(leaf, asyncio.CancelledError):
                # An SDK transport's task group cancels the task that opened it when it fails.
                reason = "a session's transport failed and cancelled the bench (lost a server connection?)"
            else:
                traceback.print_exception(exc, file=sys.stderr)
                reason = describe(exc)
            if http_exit is not None:
                reason += f"; the HTTP server had exited with {http_exit}"
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:] if log_path.exists() else ""
            print(f"{BENCH}: error: {reason}\n--- server log (tail) ---\n{tail}", file=sys.stderr)
            return 1
        call_rows, turn_rows, targets, figures = summarise(settings, results)
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    print(
        f"{BENCH}: {settings.calls} calls x {settings.rounds} round(s) per variant and level, "
        f"{settings.turns} turns x {settings.rounds} round(s) per mode, median round shown; "
        f"python {sys.version.split()[0]}, {psutil.cpu_count()} CPUs"
    )
    print(format_table(CALL_HEADER, call_rows))
    print()
    print(format_table(TURN_HEADER, turn_rows))
    print()
    print("\n".join(targets))
    print(NOTES)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

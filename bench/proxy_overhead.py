"""Per-call latency the stdio fault proxy adds, against a direct session to the same server, in one run.

Run: ``python bench/proxy_overhead.py [--quick]``. The server is a small stdio MCP server written
with the SDK's low-level API (not one of chaosbench's; written to a temporary file), called with
``mcp.client.stdio.stdio_client`` + ``ClientSession``, one call in flight at a time:

- ``direct``: the client spawns the server itself;
- ``proxy``: the client spawns ``python -m fault_servers proxy -- python server.py`` (no faults:
  lines are relayed as bytes, nothing is parsed);
- ``proxy+plan``: the same with a fault file whose only fault never fires (``error`` on a tool
  that is never called), so every message is parsed and every call decided, as with live faults.

All three sessions stay open for the whole run. Each round times N sequential calls of each
variant, the variants in rotating order, after a warm-up. Figures: the median and p90
(nearest rank) of every per-call latency of a variant; ``proxy_added_ms_median`` = median(proxy)
- median(direct); ``..._paired`` is the median over rounds of the per-round difference of medians
(variants that ran next to each other), which shared-machine drift disturbs less. Compare within a
run only. The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import anyio
import psutil
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

BENCH = "proxy_overhead"
TARGET_MS = 1.0
ROOT = Path(__file__).resolve().parent.parent

SERVER = '''\
"""A stdio MCP server written with the SDK's low-level API."""
import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

server = Server("bench-third-party")
TEXT = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


@server.list_tools()
async def list_tools() -> list[types.Tool]:
    return [types.Tool(name="echo", description="The text back.", inputSchema=TEXT)]


@server.call_tool()
async def call_tool(name: str, arguments: dict) -> list[types.TextContent]:
    return [types.TextContent(type="text", text=arguments["text"])]


async def main() -> None:
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


anyio.run(main)
'''

NEVER_FIRING_FAULTS = "faults:\n  - {kind: error, tools: [never_called]}\n"
VARIANTS = ("direct", "proxy", "proxy+plan")
ARGUMENTS = {"text": "the quick brown fox jumps over the lazy dog"}


def percentile(values: list[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def commands(workdir: Path) -> dict[str, list[str]]:
    server = workdir / "server.py"
    server.write_text(SERVER)
    faults = workdir / "faults.yaml"
    faults.write_text(NEVER_FIRING_FAULTS)
    proxy = [sys.executable, "-m", "fault_servers", "proxy"]
    direct = [sys.executable, str(server)]
    return {
        "direct": direct,
        "proxy": [*proxy, "--", *direct],
        "proxy+plan": [*proxy, "--faults", str(faults), "--", *direct],
    }


@asynccontextmanager
async def session(command: list[str]) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=command[0], args=command[1:], cwd=str(ROOT))
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        yield client


async def timed_calls(client: ClientSession, n: int) -> list[float]:
    """Latencies (ms) of `n` sequential calls."""
    latencies: list[float] = []
    clock = time.perf_counter
    for _ in range(n):
        started = clock()
        result = await client.call_tool("echo", ARGUMENTS)
        latencies.append((clock() - started) * 1000)
        if result.isError:
            raise RuntimeError(f"the bench server answered isError: {result.content}")
    return latencies


async def measure(workdir: Path, rounds: int, calls: int, warmup: int) -> dict[str, Any]:
    argv = commands(workdir)
    samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
    round_medians: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with anyio.fail_after(600):
        async with (
            session(argv["direct"]) as direct,
            session(argv["proxy"]) as proxy,
            session(argv["proxy+plan"]) as planned,
        ):
            clients = {"direct": direct, "proxy": proxy, "proxy+plan": planned}
            for client in clients.values():
                await timed_calls(client, warmup)
            proxies = proxy_processes(workdir)
            cpu_before = {name: cpu_s(process) for name, process in proxies.items()}
            for r in range(rounds):
                order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
                for name in order:
                    latencies = await timed_calls(clients[name], calls)
                    samples[name].extend(latencies)
                    round_medians[name].append(statistics.median(latencies))
            cpu_ms_per_call = {
                name: (cpu_s(process) - cpu_before[name]) * 1000 / (rounds * calls)
                for name, process in proxies.items()
            }
    return {"samples": samples, "round_medians": round_medians, "cpu_ms_per_call": cpu_ms_per_call}


def proxy_processes(workdir: Path) -> dict[str, psutil.Process]:
    """The two proxy processes of this run, by variant (told apart by the fault file in the command line)."""
    found: dict[str, psutil.Process] = {}
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            cmdline = process.cmdline()
            if "proxy" in cmdline and any(str(workdir) in part for part in cmdline):
                found["proxy+plan" if "--faults" in cmdline else "proxy"] = process
    return found


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def leftovers(marker: str) -> list[int]:
    """Kill and name any process still running from this run's temporary directory (there should be none)."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and any(marker in part for part in cmdline):
            found.append(process.pid)
            with contextlib.suppress(psutil.Error):
                process.kill()
    return found


def figures(measured: dict[str, Any], quick: bool, rounds: int, calls: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = measured["samples"]
    medians: dict[str, list[float]] = measured["round_medians"]
    median = {name: statistics.median(values) for name, values in samples.items()}
    p90 = {name: percentile(values, 90) for name, values in samples.items()}

    def paired(name: str) -> float:
        return statistics.median(a - b for a, b in zip(medians[name], medians["direct"], strict=True))

    added = median["proxy"] - median["direct"]
    return {
        "bench": BENCH,
        "quick": quick,
        "rounds": rounds,
        "calls_per_round": calls,
        "direct_ms_median": round(median["direct"], 4),
        "direct_ms_p90": round(p90["direct"], 4),
        "proxy_ms_median": round(median["proxy"], 4),
        "proxy_ms_p90": round(p90["proxy"], 4),
        "proxy_plan_ms_median": round(median["proxy+plan"], 4),
        "proxy_plan_ms_p90": round(p90["proxy+plan"], 4),
        "proxy_added_ms_median": round(added, 4),
        "proxy_added_ms_median_paired": round(paired("proxy"), 4),
        "proxy_plan_added_ms_median": round(median["proxy+plan"] - median["direct"], 4),
        "proxy_plan_added_ms_median_paired": round(paired("proxy+plan"), 4),
        "proxy_over_direct_median": round(median["proxy"] / median["direct"], 3),
        "proxy_cpu_ms_per_call": round(measured["cpu_ms_per_call"].get("proxy", math.nan), 4),
        "proxy_plan_cpu_ms_per_call": round(measured["cpu_ms_per_call"].get("proxy+plan", math.nan), 4),
        "target_ms": TARGET_MS,
        "target_under_1ms": added < TARGET_MS,
        "python": platform.python_version(),
        "mcp": metadata.version("mcp"),
        "cpus": os.cpu_count(),
    }


def table(result: dict[str, Any]) -> str:
    rows = [
        ("direct", result["direct_ms_median"], result["direct_ms_p90"], 0.0, 0.0),
        (
            "proxy",
            result["proxy_ms_median"],
            result["proxy_ms_p90"],
            result["proxy_added_ms_median"],
            result["proxy_added_ms_median_paired"],
        ),
        (
            "proxy+plan",
            result["proxy_plan_ms_median"],
            result["proxy_plan_ms_p90"],
            result["proxy_plan_added_ms_median"],
            result["proxy_plan_added_ms_median_paired"],
        ),
    ]
    cpu = {
        "direct": "-",
        "proxy": result["proxy_cpu_ms_per_call"],
        "proxy+plan": result["proxy_plan_cpu_ms_per_call"],
    }
    header = (
        f"{'variant':<12} {'median ms':>10} {'p90 ms':>10} {'added ms':>10} {'added paired':>13}"
        f" {'proxy cpu ms/call':>18}"
    )
    lines = [header, "-" * len(header)]
    lines += [f"{n:<12} {m:>10.3f} {p:>10.3f} {a:>10.3f} {ap:>13.3f} {cpu[n]:>18}" for n, m, p, a, ap in rows]
    verdict = "met" if result["target_under_1ms"] else "NOT met"
    lines.append(
        f"\n{result['rounds']} rounds x {result['calls_per_round']} sequential calls per variant; "
        f"target: proxy adds under {TARGET_MS:g} ms median without faults: {verdict}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls (under a minute)")
    args = parser.parse_args()
    rounds, calls, warmup = (30, 30, 50) if args.quick else (120, 50, 200)
    with tempfile.TemporaryDirectory(prefix="proxy-overhead-") as workdir:
        try:
            measured = anyio.run(measure, Path(workdir), rounds, calls, warmup)
        finally:
            if left := leftovers(workdir):
                print(f"warning: killed leftover processes {left}", file=sys.stderr)
    result = figures(measured, args.quick, rounds, calls)
    print(table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Per-call overhead of our circuit breaker against pybreaker, aiobreaker and purgatory.

Run: ``python bench/breaker_overhead.py [--quick]``. Every breaker guards the
same no-op call in the same process and run, and stays CLOSED (every call
succeeds): what is measured is the price of the happy path, the path every
call of a healthy server pays.

Workloads (each timed against the bare call, no breaker, in the same round):

- ``async sequential``: one task awaits ``async def op(): return None`` N times
  (purgatory: ``async with breaker`` on a breaker fetched once; its decorator
  fetches it again on every call and is slower).
- ``sync sequential``: one thread calls ``def op(): return None`` N times
  (pybreaker guards synchronous calls only; ours via ``BreakerGuard.call_sync``,
  purgatory via its ``SyncCircuitBreakerFactory``).
- ``async x100``: 100 tasks each await M calls of an ``op`` that yields to the
  event loop once (``await asyncio.sleep(0)``), so 100 calls are in flight at once.
  pybreaker is n/a here: it cannot await a coroutine (its ``call_async`` needs
  Tornado) and wrapping it in threads would measure the threads, not the breaker.

Overhead = (time per call with the breaker) - (time per call of the bare op),
paired within each round (the variants run in rotating order) and the median
over rounds reported. The garbage collector is off while a variant runs, as in
``timeit``. Ratios ``X_over_ours`` divide X's overhead by ours: above 1 means
ours is faster. The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.resilience import BreakerConfig, BreakerGuard, CircuitBreaker, SlidingWindowConfig

FAILURE_THRESHOLD = 5
RECOVERY_TIMEOUT_S = 30
TASKS = 100
TARGET_US = 2.0

AsyncRunner = Callable[[int], Awaitable[None]]
SyncRunner = Callable[[int], None]


async def op() -> None:
    return None


async def op_yield() -> None:
    await asyncio.sleep(0)


def op_sync() -> None:
    return None


@dataclass
class Contender:
    """One breaker's runners per workload (``None``: not applicable, see ``why_not``)."""

    name: str
    seq: AsyncRunner | None = None
    sync: SyncRunner | None = None
    concurrent: Callable[[], Awaitable[None]] | None = None
    why_not: dict[str, str] = field(default_factory=dict)


def ours(config: BreakerConfig | SlidingWindowConfig, name: str) -> Contender:
    guard = BreakerGuard(CircuitBreaker(config), name="bench")

    async def seq(n: int) -> None:
        call = guard.call
        for _ in range(n):
            await call(op)

    def sync(n: int) -> None:
        call = guard.call_sync
        for _ in range(n):
            call(op_sync)

    other = BreakerGuard(CircuitBreaker(config), name="bench")

    def concurrent() -> Awaitable[None]:
        return other.call(op_yield)

    return Contender(name, seq, sync, concurrent)


def pybreaker_contender() -> Contender:
    import pybreaker

    cb = pybreaker.CircuitBreaker(fail_max=FAILURE_THRESHOLD, reset_timeout=RECOVERY_TIMEOUT_S)

    def sync(n: int) -> None:
        call = cb.call
        for _ in range(n):
            call(op_sync)

    reason = (
        "sync-only: its call_async needs Tornado and holds its lock across the call; "
        "threads would measure the threads"
    )
    return Contender(
        "pybreaker", sync=sync, why_not={"seq": "sync-only (see the sync row)", "concurrent": reason}
    )


def aiobreaker_contender() -> Contender:
    import aiobreaker  # type: ignore[import-untyped]

    def make() -> Any:
        return aiobreaker.CircuitBreaker(
            fail_max=FAILURE_THRESHOLD, timeout_duration=timedelta(seconds=RECOVERY_TIMEOUT_S)
        )

    cb = make()

    async def seq(n: int) -> None:
        call = cb.call_async
        for _ in range(n):
            await call(op)

    def sync(n: int) -> None:
        call = cb.call
        for _ in range(n):
            call(op_sync)

    other = make()

    def concurrent() -> Awaitable[None]:
        return other.call_async(op_yield)  # type: ignore[no-any-return]

    return Contender("aiobreaker", seq, sync, concurrent)


def purgatory_contender(loop: asyncio.AbstractEventLoop) -> Contender:
    import purgatory

    async def make() -> Any:
        factory = purgatory.AsyncCircuitBreakerFactory(
            default_threshold=FAILURE_THRESHOLD, default_ttl=RECOVERY_TIMEOUT_S
        )
        await factory.initialize()
        return await factory.get_breaker("bench")

    brk = loop.run_until_complete(make())

    async def seq(n: int) -> None:
        for _ in range(n):
            async with brk:
                await op()

    other = loop.run_until_complete(make())

    async def concurrent() -> None:
        async with other:
            await op_yield()

    sync_factory = purgatory.SyncCircuitBreakerFactory(
        default_threshold=FAILURE_THRESHOLD, default_ttl=RECOVERY_TIMEOUT_S
    )
    sync_factory.initialize()
    sync_brk = sync_factory.get_breaker("bench")

    def sync(n: int) -> None:
        for _ in range(n):
            with sync_brk:
                op_sync()

    return Contender("purgatory", seq, sync, concurrent)


def timed_sync(fn: SyncRunner, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        fn(n)
        return (time.perf_counter_ns() - t0) / n / 1000
    finally:
        gc.enable()


def timed_async(loop: asyncio.AbstractEventLoop, fn: AsyncRunner, n: int) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        loop.run_until_complete(fn(n))
        return (time.perf_counter_ns() - t0) / n / 1000
    finally:
        gc.enable()


def concurrent_runner(call: Callable[[], Awaitable[None]]) -> AsyncRunner:
    """``total / TASKS`` calls in each of TASKS tasks."""

    async def run(total: int) -> None:
        per_task = total // TASKS

        async def worker() -> None:
            for _ in range(per_task):
                await call()

        await asyncio.gather(*(worker() for _ in range(TASKS)))

    return run


async def bare_seq(n: int) -> None:
    for _ in range(n):
        await op()


def bare_sync(n: int) -> None:
    for _ in range(n):
        op_sync()


def runner_for(
    loop: asyncio.AbstractEventLoop, c: Contender, workload: str, n: int
) -> Callable[[], float] | None:
    """A timed run of ``n`` calls of contender ``c`` in ``workload``, or ``None`` when not applicable."""
    if workload == "seq" and c.seq is not None:
        return partial(timed_async, loop, c.seq, n)
    if workload == "sync" and c.sync is not None:
        return partial(timed_sync, c.sync, n)
    if workload == "concurrent" and c.concurrent is not None:
        return partial(timed_async, loop, concurrent_runner(c.concurrent), n)
    return None


def measure(
    loop: asyncio.AbstractEventLoop, contenders: list[Contender], workload: str, n: int, rounds: int
) -> tuple[float, dict[str, float]]:
    """Median bare µs/call and median paired overhead µs/call per contender."""
    runners = {c.name: r for c in contenders if (r := runner_for(loop, c, workload, n)) is not None}
    bare = runner_for(loop, Contender("bare", bare_seq, bare_sync, op_yield), workload, n)
    assert bare is not None
    for run in [bare, *runners.values()]:  # warm-up: imports, caches, the loop's first turns
        run()
    bare_times: list[float] = []
    overheads: dict[str, list[float]] = {name: [] for name in runners}
    names = list(runners)
    for round_no in range(rounds):
        shift = round_no % len(names) if names else 0
        order = names[shift:] + names[:shift]
        before = bare()
        results = {name: runners[name]() for name in order}
        base = (before + bare()) / 2
        bare_times.append(base)
        for name, t in results.items():
            overheads[name].append(t - base)
    return statistics.median(bare_times), {k: statistics.median(v) for k, v in overheads.items()}


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds (under a minute)")
    args = parser.parse_args(argv)
    n_seq, n_conc, rounds = (20_000, 10_000, 9) if args.quick else (200_000, 50_000, 15)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    contenders = [
        ours(
            BreakerConfig(failure_threshold=FAILURE_THRESHOLD, recovery_timeout_s=RECOVERY_TIMEOUT_S), "ours"
        ),
        ours(SlidingWindowConfig(recovery_timeout_s=RECOVERY_TIMEOUT_S), "ours (sliding window)"),
    ]
    skipped: dict[str, str] = {}
    for name, build in (
        ("pybreaker", pybreaker_contender),
        ("aiobreaker", aiobreaker_contender),
        ("purgatory", lambda: purgatory_contender(loop)),
    ):
        try:
            contenders.append(build())
        except Exception as exc:  # noqa: BLE001 - a competitor that will not import is skipped, not fatal
            skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"skipping {name}: it did not import or start ({skipped[name]})", file=sys.stderr)

    figures: dict[str, tuple[float, dict[str, float]]] = {}
    for workload, n in (("seq", n_seq), ("sync", n_seq), ("concurrent", n_conc)):
        figures[workload] = measure(loop, contenders, workload, n, rounds)
    loop.close()

    labels = {"seq": "async sequential", "sync": "sync sequential", "concurrent": f"async x{TASKS} tasks"}
    print(
        f"breaker overhead per call (µs), median of {rounds} paired rounds; python {platform.python_version()}"
    )
    print(f"{'breaker':<24} {'workload':<18} {'with breaker':>12} {'bare':>8} {'overhead':>9} {'vs ours':>8}")
    for workload, (bare, overheads) in figures.items():
        ours_oh = overheads.get("ours")
        for c in contenders:
            if c.name not in overheads:
                print(f"{c.name:<24} {labels[workload]:<18} {'n/a: ' + c.why_not.get(workload, '')}")
                continue
            oh = overheads[c.name]
            ratio = f"{oh / max(ours_oh, 0.01):7.1f}x" if ours_oh is not None and c.name != "ours" else ""
            print(f"{c.name:<24} {labels[workload]:<18} {bare + oh:12.3f} {bare:8.3f} {oh:9.3f} {ratio:>8}")
        for name, why in skipped.items():
            print(f"{name:<24} {labels[workload]:<18} skipped: {why}")

    def overhead(workload: str, name: str) -> float | None:
        value = figures[workload][1].get(name)
        return None if value is None else round(value, 4)

    def over(workload: str, name: str) -> float | None:
        theirs, mine = figures[workload][1].get(name), figures[workload][1].get("ours")
        return None if theirs is None or mine is None else round(theirs / max(mine, 0.01), 2)

    async_rivals = [name for name in ("aiobreaker", "purgatory") if overhead("seq", name) is not None]
    ours_seq = overhead("seq", "ours")
    assert ours_seq is not None
    result: dict[str, Any] = {
        "bench": "breaker_overhead",
        "quick": args.quick,
        "python": platform.python_version(),
        "versions": {name: version(name) for name in ("pybreaker", "aiobreaker", "purgatory")},
        "calls_per_round": {"seq": n_seq, "sync": n_seq, "concurrent": n_conc},
        "rounds": rounds,
        "tasks": TASKS,
        "bare_us_per_call": {w: round(f[0], 4) for w, f in figures.items()},
        "ours_us_per_call": ours_seq,
        "ours_sliding_us_per_call": overhead("seq", "ours (sliding window)"),
        "ours_sync_us_per_call": overhead("sync", "ours"),
        "ours_concurrent_us_per_call": overhead("concurrent", "ours"),
        "pybreaker_us_per_call": overhead("sync", "pybreaker"),
        "aiobreaker_us_per_call": overhead("seq", "aiobreaker"),
        "purgatory_us_per_call": overhead("seq", "purgatory"),
        "aiobreaker_concurrent_us_per_call": overhead("concurrent", "aiobreaker"),
        "purgatory_concurrent_us_per_call": overhead("concurrent", "purgatory"),
        "pybreaker_over_ours": over("sync", "pybreaker"),
        "pybreaker_over_ours_basis": "sync sequential (pybreaker has no asyncio API)",
        "aiobreaker_over_ours": over("seq", "aiobreaker"),
        "purgatory_over_ours": over("seq", "purgatory"),
        "aiobreaker_concurrent_over_ours": over("concurrent", "aiobreaker"),
        "purgatory_concurrent_over_ours": over("concurrent", "purgatory"),
        "pybreaker_concurrent": "n/a: sync-only breaker (no asyncio API without Tornado)",
        "skipped": skipped,
        "target_us_per_call": TARGET_US,
        "ours_under_target": ours_seq < TARGET_US,
        "ours_fastest_async": all(
            (overhead(w, r) or 0.0) > (overhead(w, "ours") or 0.0)
            for w in ("seq", "concurrent")
            for r in async_rivals
        ),
    }
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

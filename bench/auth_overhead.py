"""Gateway CPU per request with JWT auth and the audit log on, against auth off, in one run.

Run: ``python bench/auth_overhead.py [--quick]``. Four real gateway processes
(``python -m harness.gateway``), each over its own stdio weather server, mode
``tools``, two tool calls per turn, no simulated LLM latency, rate limit and cache off:

- ``off``: no authentication, no audit;
- ``hs256``: every request carries an HS256 Bearer token (verified, session-checked),
  and the audit log gets one ``authn_success`` and one ``grant`` per tool call;
- ``rs256``: the same with RS256 (verified with the public key);
- ``hs256_nocache``: HS256 with the verified-token cache off (``auth.verify_cache_size: 0``),
  so every request pays PyJWT's parsing and the signature check (the worst case: a new
  token on every request; sessions reuse theirs, which the cache serves).

The bench process mints the tokens beforehand (one per session, role ``user``) and
drives each gateway with the same requests, ``CONCURRENCY`` in flight, the variants in
rotating order each round after a warm-up. CPU is the gateway process's own user +
system time (psutil; the weather server is a child process and is not counted; the
audit writer thread is). Figures: CPU ms per request per variant (total over the
rounds; psutil's CPU times tick every 10 ms, hence hundreds of requests per round),
``auth_cpu_overhead_fraction`` = (hs256 - off) / off from the totals, its per-round
paired median, the same for RS256 and for HS256 without the cache, and median latency.
The in-process cost of one ``TokenVerifier.verify`` is printed beside them. Compare
within a run only.
The last stdout line is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.auth import AuthSettings, minter_from, verifier_from
from harness.auth.keys import generate_hs256_secret, generate_rsa_private_pem, public_pem
from harness.envconfig import gateway_environment
from harness.netutil import free_port

BENCH = "auth_overhead"
TARGET_FRACTION = 0.05
VARIANTS = ("off", "hs256", "rs256", "hs256_nocache")
CONCURRENCY = 4
SESSIONS = 32


@dataclass
class Gateway:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    tokens: dict[str, str]  # session -> Authorization header value ("" when auth is off)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_s(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system


def write_keys(workdir: Path) -> dict[str, dict[str, str]]:
    """Key files and each variant's environment (secrets go to files, never to argv)."""
    secret = workdir / "jwt-secret"
    secret.write_bytes(generate_hs256_secret())
    private = workdir / "rsa.pem"
    private.write_bytes(generate_rsa_private_pem())
    public = workdir / "rsa.pub.pem"
    public.write_bytes(public_pem(private.read_bytes()))
    return {
        "off": {},
        "hs256": {"CHAOSBENCH_JWT_SECRET_FILE": str(secret)},
        "rs256": {"CHAOSBENCH_JWT_PUBLIC_KEY_FILE": str(public)},
        "hs256_nocache": {"CHAOSBENCH_JWT_SECRET_FILE": str(secret)},
        "rs256-signing": {"CHAOSBENCH_JWT_PRIVATE_KEY_FILE": str(private)},
    }


def gateway_config(workdir: Path, name: str) -> Path:
    config = {
        "seed": 7,
        "mode": "tools",
        "servers": {
            "weather": {
                "kind": "weather",
                "transport": "stdio",
                "command": [
                    sys.executable,
                    "-m",
                    "fault_servers",
                    "serve",
                    "weather",
                    "--transport",
                    "stdio",
                ],
            }
        },
        "agent": {"tool_calls_per_turn": 2, "llm_latency_s": 0.0},
        "auth": {
            "enabled": name != "off",
            "audit": {"path": str(workdir / name / "audit.jsonl")},
            "verify_cache_size": 0 if name.endswith("_nocache") else 4096,
        },
    }
    path = workdir / f"gateway-{name}.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def start_gateways(workdir: Path, gateways: dict[str, Gateway]) -> None:
    """Start every variant into ``gateways`` (filled as they start, so the caller can stop them all)."""
    envs = write_keys(workdir)
    base = {k: v for k, v in os.environ.items() if not k.startswith("CHAOSBENCH_JWT_")}
    base["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(Path(__file__).resolve().parent.parent), base.get("PYTHONPATH")])
    )
    for name in VARIANTS:
        port = free_port()
        argv = [
            sys.executable,
            "-m",
            "harness.gateway",
            "--config",
            str(gateway_config(workdir, name)),
            "--port",
            str(port),
        ]
        log = open(workdir / f"gateway-{name}.log", "wb")  # noqa: SIM115 - closed with the process
        proc = subprocess.Popen(
            argv, env={**base, **envs[name]}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        tokens = {f"b{i}": "" for i in range(SESSIONS)}
        if name != "off":
            signing = envs["rs256-signing"] if name == "rs256" else envs["hs256"]
            minter = minter_from(AuthSettings(enabled=True), signing)
            tokens = {s: f"Bearer {minter.for_session('user', s)}" for s in tokens}
        gateways[name] = Gateway(name, port, proc, tokens)
    deadline = time.monotonic() + 60
    for gw in gateways.values():
        while True:
            if gw.proc.poll() is not None:
                raise RuntimeError(
                    f"gateway {gw.name} exited with {gw.proc.returncode}; see {workdir}/gateway-{gw.name}.log"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{gw.url}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"gateway {gw.name} not ready within 60 s")
            time.sleep(0.1)


def stop_gateways(gateways: dict[str, Gateway]) -> None:
    for gw in gateways.values():
        if gw.proc.poll() is None:
            gw.proc.send_signal(signal.SIGTERM)
    for gw in gateways.values():
        try:
            gw.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(gw.proc.pid, signal.SIGKILL)
            gw.proc.wait(timeout=5)


async def drive(client: httpx.AsyncClient, gw: Gateway, n: int, turn0: int) -> list[float]:
    """Send ``n`` turns, ``CONCURRENCY`` at a time; latencies in ms. Raises on any non-200."""
    sessions = list(gw.tokens)
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker() -> None:
        for i in queue:
            session = sessions[i % len(sessions)]
            headers = {"Authorization": gw.tokens[session]} if gw.tokens[session] else {}
            started = time.perf_counter()
            response = await client.post(
                f"{gw.url}/v1/sessions/{session}/messages", json={"turn": turn0 + i}, headers=headers
            )
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{gw.name}: HTTP {response.status_code}: {response.text[:300]}")

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(CONCURRENCY))), timeout=600)
    return latencies


async def measure(gateways: dict[str, Gateway], rounds: int, per_round: int, warmup: int) -> dict[str, Any]:
    cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}
    latency: dict[str, list[float]] = {name: [] for name in VARIANTS}
    limits = httpx.Limits(max_connections=CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for gw in gateways.values():
            await drive(client, gw, warmup, 0)
        for r in range(rounds):
            order = VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]
            for name in order:
                gw = gateways[name]
                before = gw.cpu_s()
                latency[name] += await drive(client, gw, per_round, (r + 1) * 100_000)
                cpu[name].append((gw.cpu_s() - before) * 1000 / per_round)
    return {"cpu_ms": cpu, "latency_ms": latency}


def verify_cost_us(workdir: Path, n: int = 2000) -> dict[str, float]:
    """In-process time of one verification (µs), for context: each algorithm without the
    verified-token cache, and a token seen before (the cache's path)."""
    (workdir / "micro").mkdir()
    envs = write_keys(workdir / "micro")
    out: dict[str, float] = {}
    cases = (("hs256", "hs256", 0), ("rs256", "rs256-signing", 0), ("cached", "hs256", 4096))
    for name, signing, cache_size in cases:
        settings = AuthSettings(enabled=True, verify_cache_size=cache_size)
        verifier = verifier_from(settings, gateway_environment(envs[signing.replace("-signing", "")]))
        token = minter_from(settings, envs[signing]).for_session("user", "s")
        started = time.perf_counter()
        for _ in range(n):
            verifier.verify(token)
        out[name] = (time.perf_counter() - started) / n * 1e6
    return out


def figures(
    measured: dict[str, Any], micro: dict[str, float], quick: bool, rounds: int, per_round: int
) -> dict[str, Any]:
    cpu: dict[str, list[float]] = measured["cpu_ms"]
    mean = {name: statistics.fmean(values) for name, values in cpu.items()}

    def overhead(name: str) -> float:
        return (mean[name] - mean["off"]) / mean["off"]

    def paired(name: str) -> float:
        return statistics.median((a - b) / b for a, b in zip(cpu[name], cpu["off"], strict=True))

    hs = overhead("hs256")
    return {
        "bench": BENCH,
        "quick": quick,
        "rounds": rounds,
        "requests_per_round": per_round,
        "concurrency": CONCURRENCY,
        "off_cpu_ms_per_request": round(mean["off"], 4),
        "hs256_cpu_ms_per_request": round(mean["hs256"], 4),
        "rs256_cpu_ms_per_request": round(mean["rs256"], 4),
        "auth_cpu_overhead_fraction": round(hs, 4),
        "auth_cpu_overhead_fraction_paired_median": round(paired("hs256"), 4),
        "auth_cpu_overhead_fraction_rs256": round(overhead("rs256"), 4),
        "auth_cpu_overhead_fraction_rs256_paired_median": round(paired("rs256"), 4),
        "hs256_nocache_cpu_ms_per_request": round(mean["hs256_nocache"], 4),
        "auth_cpu_overhead_fraction_nocache": round(overhead("hs256_nocache"), 4),
        "auth_cpu_overhead_fraction_nocache_paired_median": round(paired("hs256_nocache"), 4),
        "auth_added_cpu_us_per_request": round((mean["hs256"] - mean["off"]) * 1000, 1),
        "off_latency_ms_median": round(statistics.median(measured["latency_ms"]["off"]), 3),
        "hs256_latency_ms_median": round(statistics.median(measured["latency_ms"]["hs256"]), 3),
        "rs256_latency_ms_median": round(statistics.median(measured["latency_ms"]["rs256"]), 3),
        "hs256_nocache_latency_ms_median": round(
            statistics.median(measured["latency_ms"]["hs256_nocache"]), 3
        ),
        "verify_us_hs256": round(micro["hs256"], 2),
        "verify_us_rs256": round(micro["rs256"], 2),
        "verify_us_cached": round(micro["cached"], 2),
        "target_fraction": TARGET_FRACTION,
        "target_under_5_percent": hs < TARGET_FRACTION,
        "python": platform.python_version(),
        "pyjwt": metadata.version("pyjwt"),
        "cpus": os.cpu_count(),
    }


def table(result: dict[str, Any]) -> str:
    header = f"{'variant':<14} {'cpu ms/request':>15} {'overhead':>9} {'paired':>8} {'latency ms p50':>15}"
    lines = [
        header,
        "-" * len(header),
        f"{'off':<14} {result['off_cpu_ms_per_request']:>15.3f} {'-':>9} {'-':>8} {result['off_latency_ms_median']:>15.3f}",
    ]
    for name, suffix in (("hs256", ""), ("rs256", "_rs256"), ("hs256_nocache", "_nocache")):
        lines.append(
            f"{name:<14} {result[f'{name}_cpu_ms_per_request']:>15.3f} "
            f"{result[f'auth_cpu_overhead_fraction{suffix}']:>9.1%} "
            f"{result[f'auth_cpu_overhead_fraction{suffix}_paired_median']:>8.1%} "
            f"{result[f'{name}_latency_ms_median']:>15.3f}"
        )
    verdict = "met" if result["target_under_5_percent"] else "NOT met"
    lines.append(
        f"\n{result['rounds']} rounds x {result['requests_per_round']} requests per variant, {CONCURRENCY} in flight; "
        f"one verify in-process: HS256 {result['verify_us_hs256']:.1f} us, RS256 {result['verify_us_rs256']:.1f} us, "
        f"a token seen before {result['verify_us_cached']:.1f} us"
        f"\ntarget: auth + audit add under {TARGET_FRACTION:.0%} gateway CPU per request (HS256): {verdict}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests (under a minute)")
    args = parser.parse_args()
    rounds, per_round, warmup = (4, 200, 40) if args.quick else (16, 600, 300)
    with tempfile.TemporaryDirectory(prefix="auth-overhead-") as tmp:
        workdir = Path(tmp)
        gateways: dict[str, Gateway] = {}
        try:
            start_gateways(workdir, gateways)
            measured = asyncio.run(measure(gateways, rounds, per_round, warmup))
        finally:
            stop_gateways(gateways)
        micro = verify_cost_us(workdir)
    result = figures(measured, micro, args.quick, rounds, per_round)
    print(table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

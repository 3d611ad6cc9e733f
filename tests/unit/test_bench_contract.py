"""Every bench script keeps the benchmark contract's command line: ``python bench/NAME.py [--quick]``.

Only ``--help`` is run here (fast), and manager_throughput's summary is fed synthetic rounds; the
benches themselves take too long for the unit suite.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH_SCRIPTS = sorted(p for p in (ROOT / "bench").glob("*.py") if not p.name.startswith("_"))


def test_there_are_bench_scripts() -> None:
    assert BENCH_SCRIPTS, f"no bench scripts found in {ROOT / 'bench'}"


@pytest.mark.parametrize("script", BENCH_SCRIPTS, ids=lambda p: p.name)
def test_help_exits_0_and_mentions_quick(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(script.relative_to(ROOT)), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, f"{script.name} --help exited {proc.returncode}:\n{proc.stderr}"
    assert "--quick" in proc.stdout, f"{script.name} --help does not mention --quick:\n{proc.stdout}"


def _load_bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_manager_throughput_json_has_the_issue_figures() -> None:
    """The summary of synthetic rounds carries every figure the issue names (no server is started)."""
    mt = _load_bench("manager_throughput")
    settings = mt.make_settings(mt.build_parser().parse_args(["--quick"]))
    speed = {"raw": 1000.0, "manager": 950.0, "adapters": 2.0, "tools": 150.0, "agent": 70.0}

    def rounds(key: str, count: int) -> list[Any]:
        rate = speed[key.split("_")[0]]
        return [mt.RoundResult(100, 0, 100 / rate, 0.1, 0.2, [1 / rate] * 100) for _ in range(count)]

    results: dict[tuple[str, int], list[Any]] = {}
    for level in settings.levels:
        for variant in mt.CALL_VARIANTS:
            results[(variant.key, level)] = rounds(variant.key, settings.rounds)
    for level in mt.TURN_LEVELS:
        for variant in mt.TURN_VARIANTS:
            results[(variant.key, level)] = rounds(variant.key, settings.rounds)
    for variant, level in mt.adapter_levels(settings):
        results[(variant.key, level)] = rounds(variant.key, 1)

    call_rows, turn_rows, targets, figures = mt.summarise(settings, results)

    for key in (
        "manager_over_raw_stdio",
        "manager_over_raw_http",
        "manager_over_raw_stdio_c1",
        "manager_over_raw_http_c1",
        "manager_over_adapters_stdio",
        "manager_over_adapters_http",
        "agent_turn_cpu_ms",
        "tools_turn_cpu_ms",
        "agent_over_tools_cpu",
    ):
        assert isinstance(figures[key], float), key
    assert figures["manager_over_raw_stdio_c1"] == 0.95
    assert figures["manager_over_adapters_stdio"] == 475.0
    assert figures["target_manager_ge_0_9_raw"] is True
    assert figures["target_manager_ge_100x_adapters_stdio"] is True
    json.dumps(figures)  # one JSON object
    assert len(call_rows) == 2 * len(mt.CALL_VARIANTS) + 3  # adapters: stdio at 1, HTTP at 1 and 50
    assert len(turn_rows) == 2 * len(mt.TURN_LEVELS)
    assert len(targets) == 2


def test_workers_scaling_figures_from_synthetic_run_tables() -> None:
    """Per-run figures come from the run's requests and samples; the JSON has rps_1, rps_2 and their ratio."""
    import pandas as pd

    ws = _load_bench("workers_scaling")
    settings = ws.make_settings(ws.build_parser().parse_args(["--quick"]))

    def run(workers: int, rate: float) -> Any:
        # `rate` requests per second for 10 s, each 50 ms, starting at t = 100.
        n = int(rate * 10)
        starts = [100 + i / rate for i in range(n)]
        requests = pd.DataFrame(
            {"t_start": starts, "latency_s": [0.05] * n, "outcome": ["ok"] * (n - 1) + ["dropped"]}
        )
        names = [f"locust-w{i}" for i in range(1, workers + 1)] + ["locust", "gateway", "server-weather"]
        cpu = {"locust": 1.0, "gateway": 90.0, "server-weather": 40.0}
        samples = pd.DataFrame(
            [
                {"t": 100 + s, "process": name, "cpu_percent": cpu.get(name, 30.0 / workers)}
                for s in range(11)
                for name in names
            ]
            + [{"t": 105, "process": "gateway/weather", "cpu_percent": float("nan")}]
        )
        return ws.run_figures(workers, requests, samples)

    one, two = run(1, 100.0), run(2, 150.0)
    assert one.window_s == pytest.approx(10 - 0.01 + 0.05 - ws.SETTLE_S - 0.5, abs=0.02)
    assert one.rps == pytest.approx(100.0, rel=0.03)
    assert one.p50_ms == pytest.approx(50.0)
    assert (one.locust_cpu, one.locust_cpu_max, one.gateway_cpu) == (30.0, 30.0, 90.0)
    assert (two.locust_cpu, two.locust_cpu_max) == (30.0, 15.0)  # the master's 1% is not a user process
    figures = ws.figures(settings, True, [one, two])
    assert figures["bench"] == "workers_scaling"
    for key in ("rps_1", "rps_2", "rps_2_over_1"):
        assert isinstance(figures[key], float), key
    assert figures["rps_2_over_1"] == pytest.approx(1.5, rel=0.03)
    assert figures["bottleneck_1"] == "gateway"
    json.dumps(figures)
    with pytest.raises(ValueError, match="as many"):
        ws.figures(settings, True, [one])

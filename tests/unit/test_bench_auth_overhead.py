"""bench/auth_overhead.py's figures from synthetic measurements (no gateway is started)."""

from __future__ import annotations

import json

from tests.unit.test_bench_contract import _load_bench


def test_the_json_line_has_the_overhead_fraction_and_the_target() -> None:
    bench = _load_bench("auth_overhead")
    cpu = {"off": [4.0, 4.0], "hs256": [4.1, 4.1], "rs256": [4.2, 4.2], "hs256_nocache": [4.4, 4.4]}
    measured = {"cpu_ms": cpu, "latency_ms": {name: [10.0, 12.0] for name in cpu}}
    micro = {"hs256": 30.0, "rs256": 60.0, "cached": 2.0}
    result = bench.figures(measured, micro, True, 2, 100)
    assert result["bench"] == "auth_overhead"
    assert result["auth_cpu_overhead_fraction"] == 0.025
    assert result["auth_cpu_overhead_fraction_rs256"] == 0.05
    assert result["auth_cpu_overhead_fraction_nocache"] == 0.1
    assert result["auth_added_cpu_us_per_request"] == 100.0
    assert result["target_under_5_percent"] is True
    json.dumps(result)
    assert "hs256_nocache" in bench.table(result)

"""Fixtures that build synthetic run directories for the reports tests.

Everything is exposed as fixtures (no helper module to import), so these tests
run the same whether or not ``tests/unit/reports`` is a package.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

T0 = 1_700_000_000.0
"""Load start of every synthetic run (epoch seconds)."""

DEFAULT_SLAS: list[dict[str, Any]] = [
    {"name": "p95 under 1 s", "kind": "latency", "percentile": 95, "max_s": 1.0},
    {"name": "errors under 5%", "kind": "error_rate", "max_ratio": 0.05},
]


def _write_jsonl(path: Path, records: Iterable[Mapping[str, Any]], tail: str = "") -> None:
    """Write records one per line; ``tail`` is appended raw (e.g. a truncated line)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(dict(record)) + "\n" for record in records)
    path.write_text(text + tail, encoding="utf-8")


def _write_parquet(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records([dict(record) for record in records]).to_parquet(path, index=False)


def _requests(
    rng: random.Random,
    count: int,
    outcomes: Mapping[str, int] | None = None,
    names: Sequence[str] = ("turn", "health"),
) -> list[dict[str, Any]]:
    """``count`` request rows with seeded latencies; ``outcomes`` fixes how many of each (rest ok)."""
    planned = [outcome for outcome, n in (outcomes or {}).items() for _ in range(n)]
    planned += ["ok"] * (count - len(planned))
    rows = []
    for index, outcome in enumerate(planned):
        start = T0 + index * 0.01
        latency = None if outcome == "dropped" else round(rng.uniform(0.01, 0.5), 6)
        rows.append(
            {
                "t_start": start,
                "t_intended": start,
                "latency_s": latency,
                "session_id": f"s{index % 7}",
                "name": names[index % len(names)],
                "outcome": outcome,
                "status": 200 if outcome == "ok" else 0 if outcome in ("dropped", "timeout") else 500,
                "worker": "local",
                "request_id": f"r{index}",
                "error": None if outcome == "ok" else f"{outcome} happened",
            }
        )
    return rows


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20240501)


@pytest.fixture
def write_jsonl() -> Callable[..., None]:
    return _write_jsonl


@pytest.fixture
def write_parquet() -> Callable[..., None]:
    return _write_parquet


@pytest.fixture
def make_requests(rng: random.Random) -> Callable[..., list[dict[str, Any]]]:
    def make(count: int, outcomes: Mapping[str, int] | None = None, **kwargs: Any) -> list[dict[str, Any]]:
        return _requests(rng, count, outcomes, **kwargs)

    return make


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """Return a factory writing a run directory; tables go to JSONL parts unless listed in ``parquet``."""

    def make(
        name: str = "run",
        *,
        slas: list[dict[str, Any]] | None = None,
        status: str | None = "completed",
        reason: str | None = None,
        tables: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        parquet: Iterable[str] = (),
        locust_csv: str | None = None,
        scenario: Mapping[str, Any] | None = None,
        environment: Mapping[str, Any] | None = None,
        run_info: Mapping[str, Any] | None = None,
    ) -> Path:
        """``scenario`` adds keys to scenario.yaml (e.g. ``load``), ``environment`` to environment.json,
        ``run_info`` to run.json."""
        run_dir = tmp_path / name
        run_dir.mkdir()
        document = {"version": 1, "name": "smoke", "seed": 42, "slas": DEFAULT_SLAS if slas is None else slas}
        document.update(scenario or {})
        (run_dir / "scenario.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")
        if status is not None:
            run_info = {
                "run_id": f"20240501-120000-{name}",
                "scenario": "smoke",
                "status": status,
                "reason": reason,
                "t_start": T0 - 2.0,
                "t_end": T0 + 12.0,
                "load_t_start": T0,
                "load_t_end": T0 + 10.0,
                "processes": [{"name": "gateway", "pid": 123, "exit_code": 0}],
                **(run_info or {}),
            }
            (run_dir / "run.json").write_text(json.dumps(run_info), encoding="utf-8")
        env = {"python": "3.11", **(environment or {})}
        (run_dir / "environment.json").write_text(json.dumps(env), encoding="utf-8")
        events = run_dir / "events"
        events.mkdir()
        as_parquet = set(parquet)
        for table, rows in (tables or {}).items():
            if table in as_parquet:
                _write_parquet(events / f"{table}.parquet", rows)
            else:
                _write_jsonl(events / f"{table}.test.jsonl", rows)
        if locust_csv is not None:
            (run_dir / "locust").mkdir()
            (run_dir / "locust" / "locust_stats.csv").write_text(locust_csv, encoding="utf-8")
        return run_dir

    return make

"""A gateway with auth on, over real stdio fault servers, and the tokens to call it with."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from harness.agent import ScriptedAgent
from harness.auth import AuthSettings, TokenMinter, minter_from
from harness.auth.keys import generate_hs256_secret
from harness.gateway import GatewayConfig, GatewayServer, build_app

SEED = 5
KINDS = ("weather", "filesystem", "database")


@cache
def secret() -> str:
    return generate_hs256_secret().decode()


def environ(**extra: str) -> dict[str, str]:
    return {"CHAOSBENCH_JWT_SECRET": secret(), **extra}


def minter(**extra: str) -> TokenMinter:
    return minter_from(AuthSettings(enabled=True), environ(**extra))


def server_command(kind: str) -> list[str]:
    return [sys.executable, "-m", "fault_servers", "serve", kind, "--transport", "stdio", "--seed", "1"]


def gateway(
    tmp_path: Path,
    *,
    kinds: tuple[str, ...] = KINDS,
    mode: str = "tools",
    calls_per_turn: int = 1,
    auth: bool = True,
    env: Mapping[str, str] | None = None,
    **sections: Any,
) -> TestClient:
    config = GatewayConfig.model_validate(
        {
            "seed": SEED,
            "mode": mode,
            "servers": {
                k: GatewayServer(kind=k, transport="stdio", command=server_command(k)) for k in kinds
            },
            "agent": {"tool_calls_per_turn": calls_per_turn},
            "events_dir": tmp_path / "events",
            "auth": {"enabled": auth, "audit": {"path": tmp_path / "audit.jsonl"}},
            **sections,
        }
    )
    return TestClient(build_app(config, environ=environ() if env is None else env))


def session_calling(server: str, tool: str, kinds: tuple[str, ...] = KINDS) -> str:
    """A session id whose turn 0 is exactly one call: ``tool`` on ``server`` (servers named by kind)."""
    planner = ScriptedAgent(None, {k: k for k in kinds}, seed=SEED, tool_calls_per_turn=1)  # type: ignore[arg-type]
    for i in range(10_000):
        session = f"m{i}"
        [(s, t, _)] = planner.plan(session, 0)
        if (s, t) == (server, tool):
            return session
    raise AssertionError(f"no session plays {server}.{tool}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def read_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

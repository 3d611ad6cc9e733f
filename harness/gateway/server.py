"""Serving the gateway with uvicorn, from a config file or the built-in default."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import uvicorn

from harness.envconfig import env_overrides, gateway_environment
from harness.errors import ConfigError, ScenarioError
from harness.gateway.app import build_app
from harness.gateway.config import GatewayConfig, GatewayServer, load_gateway_config
from harness.logs import configure_logging
from harness.netutil import is_loopback
from harness.scenario import apply_overrides

__all__ = ["apply_environment", "default_config", "main"]


def default_config() -> GatewayConfig:
    """The weather reference server over stdio: a gateway that runs with no config at all."""
    return GatewayConfig(
        servers={
            "weather": GatewayServer(
                kind="weather",
                transport="stdio",
                command=[sys.executable, "-m", "fault_servers", "serve", "weather", "--transport", "stdio"],
            )
        }
    )


def apply_environment(config: GatewayConfig, environ: Mapping[str, str]) -> GatewayConfig:
    """The seeds' environment variables (``harness.envconfig``) applied to a gateway config."""
    data = {"system": config.model_dump(mode="json")}
    env = env_overrides(environ, data)
    if not env.overrides:
        return config
    data = apply_overrides(data, env.overrides, "environment")
    return GatewayConfig.model_validate(data["system"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chaosbench gateway",
        description="Run the agent gateway (the system under test) on its own, for interactive use. "
        "Endpoints: POST /v1/sessions/{id}/messages, GET /health, /ready, /metrics.",
    )
    parser.add_argument(
        "--config", type=Path, help="gateway config (JSON or YAML); default: weather over stdio"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow binding a non-loopback address (off by default)"
    )
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--keep-alive-s",
        type=int,
        default=75,
        metavar="S",
        help="close an idle client connection after S seconds (default 75, as common load balancers do; "
        "uvicorn's own 5 s default races with simulated users whose think time is longer)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(
            f"chaosbench gateway: refusing non-loopback host {args.host!r} without --allow-remote",
            file=sys.stderr,
        )
        return 2
    try:
        config = load_gateway_config(args.config) if args.config else default_config()
        config = apply_environment(config, os.environ)
        env = gateway_environment(os.environ)
        configure_logging(
            level=env.log_level, json_format=env.log_format == "json", environment=env.environment
        )
        app = build_app(config, errlog=sys.stderr)
    except (ConfigError, ScenarioError) as exc:
        print(f"chaosbench gateway: {exc}", file=sys.stderr)
        return 2
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=10,
            timeout_keep_alive=args.keep_alive_s,
        )
    )
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, restores the previous handlers and then
    # re-raises the signal; with these handlers in place that re-raise ends the process with 0.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: None)
    server.run()
    return 0 if server.started else 3

"""The agent gateway: the system under test, served over HTTP."""

from harness.gateway.app import build_app
from harness.gateway.config import GatewayConfig, GatewayServer, load_gateway_config

__all__ = ["GatewayConfig", "GatewayServer", "build_app", "load_gateway_config"]

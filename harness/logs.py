"""Structured logs: one JSON object per line with environment, component and request id.

Quiet by default (``WARNING``); ``LOG_FORMAT=json`` and ``LOG_LEVEL`` (read by
``harness.envconfig.gateway_environment``) switch a process to JSON lines::

    {"t": 1700000000.1, "level": "INFO", "environment": "ci", "component": "gateway",
     "logger": "harness.gateway.security", "request_id": "4f2c...", "message": "authentication failed",
     "reason": "expired"}

The request id comes from :data:`request_id_var`, which the gateway sets for each
request, so every line logged while serving a request carries it. Fields given
with ``extra={...}`` are added as keys. Hot paths write events, not log lines.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from typing import Any, TextIO

__all__ = ["JsonFormatter", "configure_logging", "request_id_var"]

#: The id of the request being served ("" outside a request).
request_id_var: ContextVar[str] = ContextVar("chaosbench_request_id", default="")

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line (see the module docstring)."""

    def __init__(self, *, environment: str, component: str) -> None:
        super().__init__()
        self.environment = environment
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        row: dict[str, Any] = {
            "t": record.created,
            "level": record.levelname,
            "environment": self.environment,
            "component": self.component,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in row:
                row[key] = value
        if record.exc_info:
            row["exception"] = self.formatException(record.exc_info)
        return json.dumps(row, default=str, separators=(",", ":"))


def configure_logging(
    *,
    level: str = "WARNING",
    json_format: bool = False,
    environment: str = "local",
    component: str = "gateway",
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send the ``harness`` loggers to ``stream`` (default stderr) as JSON or text; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if json_format:
        handler.setFormatter(JsonFormatter(environment=environment, component=component))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {component} %(name)s: %(message)s")
        )
    logger = logging.getLogger("harness")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return handler

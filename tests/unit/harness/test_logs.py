"""Structured logs: JSON lines with environment, component, request id and extra fields."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from harness.logs import configure_logging, request_id_var


@pytest.fixture
def restore_harness_logger() -> Iterator[None]:
    logger = logging.getLogger("harness")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_json_lines_carry_environment_component_request_id_and_extras(restore_harness_logger: None) -> None:
    stream = io.StringIO()
    configure_logging(level="INFO", json_format=True, environment="ci", component="gateway", stream=stream)
    token = request_id_var.set("req-7")
    try:
        logging.getLogger("harness.gateway.security").info(
            "authentication failed", extra={"reason": "expired"}
        )
    finally:
        request_id_var.reset(token)
    row = json.loads(stream.getvalue())
    assert row["environment"] == "ci" and row["component"] == "gateway"
    assert row["request_id"] == "req-7" and row["reason"] == "expired"
    assert row["message"] == "authentication failed" and row["level"] == "INFO"
    assert row["logger"] == "harness.gateway.security"


def test_quiet_by_default(restore_harness_logger: None) -> None:
    stream = io.StringIO()
    configure_logging(stream=stream)
    logging.getLogger("harness.x").info("not shown")
    logging.getLogger("harness.x").warning("shown")
    assert "not shown" not in stream.getvalue() and "shown" in stream.getvalue()

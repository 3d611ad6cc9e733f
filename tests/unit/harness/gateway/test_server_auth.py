"""``chaosbench gateway`` refuses to start with auth on and no key: exit 2, saying what to set."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.gateway.server import main


@pytest.fixture(autouse=True)
def restore_harness_logger() -> Iterator[None]:
    """main() configures the process's logging; put it back for the other tests."""
    logger = logging.getLogger("harness")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:] = saved[0]
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_auth_without_a_key_exits_2_naming_the_variables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SECRET", "SECRET_FILE", "PUBLIC_KEY_FILE", "PRIVATE_KEY_FILE"):
        monkeypatch.delenv(f"CHAOSBENCH_JWT_{name}", raising=False)
    config = tmp_path / "gateway.json"
    config.write_text(
        json.dumps(
            {
                "servers": {"weather": {"kind": "weather", "transport": "stdio", "command": ["true"]}},
                "auth": {"enabled": True, "audit": {"path": str(tmp_path / "audit.jsonl")}},
            }
        )
    )
    assert main(["--config", str(config), "--port", "1"]) == 2
    assert "CHAOSBENCH_JWT_SECRET" in capsys.readouterr().err


def test_a_bad_log_format_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_FORMAT", "xml")
    assert main(["--port", "1"]) == 2
    assert "LOG_FORMAT" in capsys.readouterr().err

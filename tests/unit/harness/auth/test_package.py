"""harness.auth loads its modules on first use: the scenario schema does not pull in PyJWT."""

from __future__ import annotations

import subprocess
import sys

import pytest

import harness.auth


def test_importing_the_scenario_schema_loads_neither_pyjwt_nor_cryptography() -> None:
    code = (
        "import sys, harness.scenario; print(sorted(m for m in ('jwt', 'cryptography') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_every_exported_name_resolves() -> None:
    for name in harness.auth.__all__:
        assert getattr(harness.auth, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = harness.auth.nothing  # type: ignore[attr-defined]

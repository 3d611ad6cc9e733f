"""The suite's leak check (tests/conftest.py) must fail a test that leaves a process behind."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFTEST = (Path(__file__).resolve().parents[1] / "conftest.py").read_text(encoding="utf-8")


def test_a_test_that_leaves_a_process_running_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST.replace("LEAK_GRACE_S = 10.0", "LEAK_GRACE_S = 0.5"))
    pytester.makepyfile(
        """
        import subprocess, sys

        def test_leaks():
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

        def test_cleans_up():
            proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            proc.kill()
            proc.wait()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    # A test whose teardown fails counts as passed and as an error.
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*AssertionError: the test left processes running*"])
    result.stdout.fnmatch_lines(["ERROR *::test_leaks - *"])

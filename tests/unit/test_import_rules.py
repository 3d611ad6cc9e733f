"""The one-way flow of docs/architecture.md, checked on every module's import statements.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "harness": {"reports", "fault_servers", "scenarios", "locust", "gevent"},
    "fault_servers": {"harness", "reports", "scenarios", "locust", "gevent", "langchain", "langchain_core"},
    "reports": {"harness", "fault_servers", "scenarios", "locust", "gevent", "mcp"},
    "scenarios": {"reports", "fault_servers"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_the_architecture_allows(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    violations = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in files
        for name in sorted(imported_roots(path) & FORBIDDEN[package])
    ]
    assert violations == []


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from reports.load import load_run\n    import locust.env\n")
    assert imported_roots(module) == {"reports", "locust"}


def test_the_test_process_is_not_monkey_patched_by_gevent() -> None:
    """Locust runs only in its own subprocess; pytest's process must keep the real socket module."""
    from gevent import monkey

    assert not monkey.is_module_patched("socket")
    assert not monkey.is_module_patched("threading")

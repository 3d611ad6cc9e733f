"""The one-way flow of docs/architecture.md, checked on every module's import statements.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FORBIDDEN = {
    "harness": {"reports", "fault_servers", "scenarios", "locust", "gevent"},  # fault_servers: see PUBLIC_API
    "fault_servers": {"harness", "reports", "scenarios", "locust", "gevent", "langchain", "langchain_core"},
    "reports": {"harness", "fault_servers", "scenarios", "locust", "gevent", "mcp"},
    "scenarios": {"reports", "fault_servers"},
}


#: A package may use another's public API (its top-level ``__init__``), never its internals:
#: the harness validates scenario faults with ``from fault_servers import parse_faults``.
PUBLIC_API = {"harness": {"fault_servers"}}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def forbidden_imports(package: str, path: Path) -> list[str]:
    allowed_exactly = PUBLIC_API.get(package, set())
    return sorted(
        module
        for module in imported_modules(path)
        if module.split(".")[0] in FORBIDDEN[package] and module not in allowed_exactly
    )


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_packages_import_only_what_the_architecture_allows(package: str) -> None:
    files = sorted((REPO / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    violations = [
        f"{path.relative_to(REPO)} imports {name}"
        for path in files
        for name in forbidden_imports(package, path)
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


def test_the_harness_may_use_the_fault_servers_public_api_but_not_its_internals(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("from fault_servers import parse_faults\nfrom fault_servers.model.kinds import X\n")
    assert forbidden_imports("harness", module) == ["fault_servers.model.kinds"]

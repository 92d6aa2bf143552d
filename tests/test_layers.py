"""Dependencies point down: cli -> operations -> serving -> models -> features -> warehouse.

Read from the source (every `import riskai...` / `from riskai... import`, lazy ones inside functions
included), so a newcomer can trust the layering the README describes."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "riskai"
# package -> riskai packages it must never import
FORBIDDEN = {
    "warehouse": {"features", "models", "backtest", "evaluation", "serving", "operations", "dashboard", "collectors", "cli"},
    "features": {"backtest", "evaluation", "serving", "operations", "dashboard", "collectors", "cli"},
    "models": {"backtest", "serving", "operations", "dashboard", "collectors", "cli"},
    "backtest": {"serving", "operations", "dashboard", "collectors", "cli"},
    "serving": {"operations", "dashboard", "collectors", "cli"},
    "operations": {"dashboard", "collectors", "cli"},
    "collectors": {"features", "models", "backtest", "serving", "operations", "dashboard", "cli"},
    "dashboard": {"operations", "collectors", "cli"},
}
# Entry-point shims: `python -m riskai.operations` runs the command line, which sits above everything.
SHIMS = {PACKAGE / "operations" / "__main__.py"}


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "riskai" else [f"riskai.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {name.split(".")[1] for name in names if name.startswith("riskai.")}
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_it(package):
    wrong = {f"{path.relative_to(PACKAGE.parent)} imports riskai.{name}"
             for path in (PACKAGE / package).rglob("*.py") if path not in SHIMS
             for name in imported_packages(path) & FORBIDDEN[package]}
    assert not wrong, sorted(wrong)

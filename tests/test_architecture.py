"""The packages' one-way doors (docs/architecture.md): each package imports only those below it.

engine  <-  core  <-  lti_tool, sidecar (never each other)  <-  skillgap (the launcher)
bkt_csv (the pyBKT CSV tool) and bench (benchmarks) sit beside them: no product package
imports bench, and only the launcher imports bkt_csv.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ("engine", "core", "lti_tool", "sidecar", "skillgap", "bkt_csv", "bench")
ALLOWED = {
    "engine": {"engine"},
    "core": {"engine", "core"},
    "lti_tool": {"engine", "core", "lti_tool"},
    "sidecar": {"engine", "core", "sidecar"},
    "bkt_csv": {"engine", "core", "bkt_csv"},
    "skillgap": {"engine", "core", "lti_tool", "sidecar", "skillgap", "bkt_csv"},
    "bench": set(PROJECT),
}


def imported_packages(path: Path) -> set[str]:
    """The project's top-level packages a module imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found.update(name.split(".")[0] for name in names if name.split(".")[0] in PROJECT)
    return found


def modules_of(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PROJECT)
def test_a_package_imports_only_what_lies_below_it(package):
    modules = modules_of(package)
    assert modules, f"no modules found in {package}/"
    wrong = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) - ALLOWED[package])
        for path in modules
        if imported_packages(path) - ALLOWED[package]
    }
    assert wrong == {}


def test_the_check_sees_an_import_inside_a_function(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from sidecar.worker import Worker\n    import bench.engine\n")
    assert imported_packages(module) == {"sidecar", "bench"}

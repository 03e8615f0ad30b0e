"""Packaging: every third-party module the package imports is a declared dependency; a LICENSE ships."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # stdlib from Python 3.11

ROOT = Path(__file__).resolve().parents[1]
_OPTIONAL_GUARDS = {"ImportError", "ModuleNotFoundError"}


def _normalise(name: str) -> str:
    """PEP 503 name normalisation (`PyYAML` == `pyyaml`, `scikit_learn` == `scikit-learn`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalise(re.split(r"[<>=!~;\[ ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}


def _guarded(tree: ast.AST) -> set[int]:
    """ids of import nodes inside a `try` whose handlers catch ImportError: optional, lazily imported."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = set()
        for handler in node.handlers:
            names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            caught |= {n.id for n in names if isinstance(n, ast.Name)}
        if caught & _OPTIONAL_GUARDS:
            ids |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return ids


def third_party_imports(package: Path) -> dict[str, list[str]]:
    """{top-level module: [files]} of the unguarded absolute imports of non-stdlib, non-`package` modules."""
    found: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        optional = _guarded(tree)
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top != package.name and top not in sys.stdlib_module_names:
                    found.setdefault(top, []).append(str(path.relative_to(package.parent)))
    return found


def test_every_imported_third_party_module_is_a_declared_dependency():
    modules = third_party_imports(ROOT / "avssl")
    assert {"torch", "av", "numpy"} <= set(modules)  # the scan sees the package's real imports
    distributions = packages_distributions()
    declared = _declared()
    missing = {}
    for module, files in modules.items():
        names = {_normalise(d) for d in distributions.get(module, [module])}
        if not names & declared:
            missing[module] = f"{sorted(names)} imported by {files[0]}"
    assert not missing, f"imported at run time but not in [project] dependencies: {missing}"


def test_guarded_optional_imports_are_not_required(tmp_path):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "mod.py").write_text(
        "import os\nimport needed.sub\nfrom pkg import other\n"
        "def f():\n    try:\n        import optional_one\n    except ImportError:\n        return None\n"
        "    try:\n        from optional_two import x\n    except (ValueError, ModuleNotFoundError):\n        pass\n"
        "    try:\n        import unguarded\n    except ValueError:\n        pass\n"
    )
    assert set(third_party_imports(package)) == {"needed", "unguarded"}


def test_license_file_matches_the_declared_licence():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"]["text"] == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text and "END OF TERMS" in text

"""The import graph of avssl, read statically (ast, lazy imports inside functions included): evaluation and
inference never import the training engine, and neither modules nor packages import each other in a cycle.

A module's package is `avssl.<first part>` (avssl/tasks/lvs.py → avssl.tasks; a top-level module such as
avssl/config.py is its own node). `from avssl.x import y` counts as importing `avssl.x.y` when that is a
module, else `avssl.x`."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "avssl"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The avssl modules `name` imports anywhere in its file."""
    found = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "avssl"}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = name.split(".") if is_package else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base.split(".")[0] != "avssl":
                continue
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return found - {name}


def import_graph() -> dict[str, set[str]]:
    """Module → the avssl modules it imports."""
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package → packages it imports (self-edges dropped)."""
    out: dict[str, set[str]] = {}
    for module, targets in graph.items():
        if module == "avssl":
            continue
        source = package_of(module)
        out.setdefault(source, set()).update(package_of(t) for t in targets if package_of(t) != source)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _edges_between(graph: dict[str, set[str]], packages: list[str]) -> list[str]:
    members = set(packages)
    return sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        for t in targets
        if package_of(m) in members and package_of(t) in members and package_of(t) != package_of(m)
    )


def test_the_graph_reader_sees_lazy_and_relative_imports() -> None:
    graph = import_graph()
    assert "avssl.config" in graph["avssl.stages.incremental"]  # imported inside a function
    assert "avssl.tasks.base" in graph["avssl.train.loop"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_evaluation_and_inference_do_not_import_train() -> None:
    graph = import_graph()
    bad = sorted(
        f"{m} -> {t}"
        for m, targets in graph.items()
        if m.startswith(("avssl.evaluation", "avssl.inference"))
        for t in targets
        if t == "avssl.train" or t.startswith("avssl.train.")
    )
    assert not bad, "evaluation/inference import the training engine:\n" + "\n".join(bad)


def test_no_package_cycles() -> None:
    graph = import_graph()
    found = cycles(package_graph(graph))
    report = "\n".join(f"{' <-> '.join(c)}:\n  " + "\n  ".join(_edges_between(graph, c)) for c in found)
    assert not found, "package import cycles:\n" + report


def test_no_module_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "module import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)

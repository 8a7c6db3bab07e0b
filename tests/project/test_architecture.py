"""The package's shape, as ARCHITECTURE.md states it: layers with one direction (import-linter's
contracts in pyproject.toml), no import circle anywhere (imports inside functions count), a
public face per package that scripts in bench/ and export/ keep to, and no private name
crossing modules.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

grimp = pytest.importorskip("grimp")
importlinter_cli = pytest.importorskip("importlinter.cli")

PACKAGE = ROOT / "sronnx"
#: the folders with a public face (their __init__ lists the names others may import)
FACED = ("archs", "benchmark", "community", "core", "engine", "export", "imaging", "io",
         "runtime", "train")


def _python_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "node_modules" not in p.parts)


def _graph() -> grimp.ImportGraph:
    sys.path.insert(0, str(ROOT))
    try:
        return grimp.build_graph("sronnx", cache_dir=None)
    finally:
        sys.path.remove(str(ROOT))


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_layer_contracts_are_kept() -> None:
    """pyproject.toml's [tool.importlinter] contracts: the layer order and no torch, onnx,
    spandrel or Ray in the inference layers. In a process of its own: import-linter
    configures logging, which silenced the "tifffile" logger for later tests."""
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; "
         f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, "
         "no_cache=True))"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == importlinter_cli.EXIT_STATUS_SUCCESS, run.stdout[-3000:]
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_anywhere() -> None:
    graph = _graph()
    edges = {m: set(graph.find_modules_directly_imported_by(m)) & graph.modules
             for m in graph.modules}
    assert _cycles(edges) == []


def _imports(path: Path) -> list[ast.ImportFrom | ast.Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]


@pytest.mark.parametrize("folder", ["bench", "export", "tools"])
def test_scripts_use_only_public_names(folder: str) -> None:
    """bench/, export/ and tools/ import `from sronnx.<package> import name`, never a module
    behind a package's face, so that the modules may move."""
    deep = []
    for path in _python_files(ROOT / folder):
        for node in _imports(path):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names])
            for name in names:
                parts = name.split(".")
                if parts[0] == "sronnx" and len(parts) > 2 and parts[1] in FACED:
                    deep.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert deep == []


@pytest.mark.parametrize("package", FACED)
def test_every_public_name_resolves_and_none_hides_a_module(package: str) -> None:
    module = importlib.import_module(f"sronnx.{package}")
    modules = {p.stem for p in (PACKAGE / package).glob("*.py")}
    names = list(module.__all__)
    assert names == sorted(set(names)), "sorted, no repeats"
    for name in names:
        assert getattr(module, name) is not None, name
    assert not set(names) & modules, "a public name equal to a module's is shadowed by it"


def test_no_private_name_crosses_modules() -> None:
    crossing = []
    for path in _python_files(PACKAGE):
        for node in _imports(path):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sronnx"):
                crossing += [f"{path.relative_to(ROOT)}:{node.lineno}: {node.module}.{a.name}"
                             for a in node.names
                             if a.name.startswith("_") and not a.name.endswith("__")]
    assert crossing == []

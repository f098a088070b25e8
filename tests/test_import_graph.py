"""The import graph of `hebbian`: every module imports, and no import runs in a circle.

The graph is read from each module's source (ast): every import statement, at module level or
inside a function (a late import hides a circle, it does not break it), except under
``if TYPE_CHECKING:``. An import names the deepest module it reaches: ``from .pkg import name``
is the submodule ``pkg.name`` when there is one, else ``pkg`` itself.

A circle is checked in the part of the package it runs through (``engine``, ``studies``, ...);
one through the top-level modules (the CLI, which sits above every part) and a part belongs to
that part.
"""

from __future__ import annotations

import ast
import importlib
from collections import deque
from pathlib import Path

import pytest

import hebbian

ROOT = Path(hebbian.__file__).parent
TOP = "hebbian"
# Running it is what `python -m hebbian` means: importing it would start the CLI.
NOT_IMPORTED = {"hebbian.__main__"}


def module_files() -> dict[str, Path]:
    files = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        files[".".join(parts)] = path
    return files


MODULES = module_files()


def part(module: str) -> str:
    """The subpackage ``module`` lies in (``engine``, ``studies``, ...), or ``hebbian`` for the top."""
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 and (ROOT / pieces[1]).is_dir() else TOP


PARTS = sorted({part(m) for m in MODULES})


def _deepest(name: str) -> str | None:
    """The longest prefix of the dotted ``name`` that is a hebbian module."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in MODULES:
            return ".".join(parts[:end])
    return None


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")
    base = parts[: len(parts) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
        "TYPE_CHECKING"
    )


def imports(name: str) -> set[str]:
    """The hebbian modules that module ``name`` imports."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str | None] = set()
    pending = [ast.parse(path.read_text())]
    while pending:
        for node in ast.iter_child_nodes(pending.pop()):
            if _type_checking(node):
                continue
            if isinstance(node, ast.Import):
                found |= {_deepest(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, package)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    found.add(sub if sub in MODULES else _deepest(base))
            pending.append(node)
    return {m for m in found if m is not None and m != name}


def graph() -> dict[str, set[str]]:
    return {name: imports(name) for name in MODULES}


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One shortest circle per strongly connected group of modules, as a path back to its start."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[set[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_shortest_circle(edges, group) for group in groups]


def _shortest_circle(edges: dict[str, set[str]], group: set[str]) -> list[str]:
    start = min(group)
    came = {start: None}
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in sorted(edges[v] & group):
            if w == start:
                path = [v]
                while came[path[-1]] is not None:
                    path.append(came[path[-1]])
                return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, v, start]
            if w not in came:
                came[w] = v
                queue.append(w)
    raise AssertionError(f"{group} is not a circle")


def circles_in(name: str) -> list[str]:
    found = []
    for circle in circles(graph()):
        parts = {part(m) for m in circle}
        if name in (parts - {TOP} or {TOP}):
            found.append(" -> ".join(circle))
    return found


@pytest.mark.parametrize("module", sorted(set(MODULES) - NOT_IMPORTED))
def test_every_module_imports(module):
    importlib.import_module(module)


@pytest.mark.parametrize("name", PARTS)
def test_no_import_runs_in_a_circle(name):
    assert circles_in(name) == []


def test_the_circle_finder_finds_a_circle_and_only_that():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert circles(edges) == [["a", "b", "c", "a"]]
    assert circles({"a": {"b"}, "b": set()}) == []

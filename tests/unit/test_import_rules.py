"""The import rules of lib/mlhops, checked on the source (no import is executed).

Rules:
- no import cycle between modules, nor between the top-level packages of ``mlhops``;
- ``stats`` never imports ``drift`` (the stats stage composes the two in ``pipelines``);
- ``omop`` imports nothing of ``etl``; ``io`` imports no concern package;
- nothing in the library imports ``pipelines`` except the entry points: ``cli`` (command line,
  jobs) and ``runtime`` (notebooks).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "lib"
ROOT = LIB / "mlhops"
# Packages io may use: the foundations below it.
IO_MAY_IMPORT = {"errors", "config", "io", "omop"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        name = ".".join(path.relative_to(LIB).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                for cand in (f"{base}.{alias.name}", base):
                    if cand in known:
                        found.add(cand)
                        break
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
    return found - {name}


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    pg: dict[str, set[str]] = defaultdict(set)
    for src, targets in graph.items():
        for dst in targets:
            a, b = _package(src), _package(dst)
            if a and b and a != b:
                pg[a].add(b)
    return pg


def _package_imports(graph: dict[str, set[str]], package: str) -> set[str]:
    return {_package(d) for s, ds in graph.items() if _package(s) == package for d in ds} - {package, ""}


def test_the_rule_checker_finds_a_planted_cycle():
    graph = {"mlhops.a.x": {"mlhops.b.y"}, "mlhops.b.y": {"mlhops.a.x"}, "mlhops.c": set()}
    assert _cycles(graph) == [["mlhops.a.x", "mlhops.b.y"]]
    assert _cycles(_package_graph(graph)) == [["a", "b"]]


def test_no_import_cycle_between_modules():
    assert _cycles(_graph()) == []


def test_no_import_cycle_between_packages():
    assert _cycles(_package_graph(_graph())) == []


def test_stats_never_imports_drift_and_omop_never_imports_etl():
    graph = _graph()
    assert "drift" not in _package_imports(graph, "stats")
    assert "etl" not in _package_imports(graph, "omop")


def test_io_depends_only_on_foundations():
    assert _package_imports(_graph(), "io") <= IO_MAY_IMPORT


def test_only_entry_points_import_pipelines():
    graph = _graph()
    importers = {s for s, ds in graph.items() for d in ds if _package(d) == "pipelines" and _package(s) != "pipelines"}
    assert importers <= {"mlhops.cli", "mlhops.runtime"}

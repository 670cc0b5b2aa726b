"""The package's import graph, read from the source with ``ast`` (nothing is imported).

    python scripts/import_graph.py            # cycles and stage-order violations; exit 1 if any
    python scripts/import_graph.py --edges    # also every cross-package edge

Edges are module -> module, split into *module-level* imports (run when the module is imported) and
*function-level* ones (inside a function, run on first call). ``from a.b import c`` is an edge to
``a.b.c`` when that is a module, else to ``a.b``; importing ``a.b.c`` also imports the packages
``a`` and ``a.b`` (an edge to each that is not the importer's own ancestor, which is already being
imported). ``importlib.import_module("...")`` with a literal name (or a loop over literal names)
counts as an import; imports under ``if TYPE_CHECKING:`` do not. The registry's ``"module:Class"``
strings are not imports: they are resolved on demand, which is the point of a static registry.

The stage order (docs/architecture.md): a module of a lower layer never imports a higher layer at
module level. Entry points (the package root, ``analyze``, ``cli``, each stage's ``cli`` and
``__main__``) and the orchestration (``pipeline``, ``corpus``) stand above every stage.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = "congruence"

#: Modules below every stage: the contract, the shared types and helpers.
FOUNDATION = ("errors", "version", "paths", "provenance", "schema", "io", "table", "registry", "config",
              "console", "examples", "runtime")  # fmt: skip
#: Layers, lowest first. A module's layer is that of its longest matching prefix.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", tuple(f"{PACKAGE}.{m}" for m in FOUNDATION)),
    ("ingest", (f"{PACKAGE}.ingest",)),
    ("perception", (f"{PACKAGE}.perception",)),
    ("incongruence", (f"{PACKAGE}.incongruence",)),
    ("generation", (f"{PACKAGE}.generation",)),
    ("training", (f"{PACKAGE}.training",)),
    ("evaluation", (f"{PACKAGE}.evaluation",)),
    ("reporting/app", (f"{PACKAGE}.reporting", f"{PACKAGE}.app")),
    ("orchestration", (f"{PACKAGE}.pipeline", f"{PACKAGE}.corpus")),
    ("entry points", (PACKAGE, f"{PACKAGE}.analyze", f"{PACKAGE}.cli")),
)
ENTRY_SUFFIXES = (".cli", ".__main__")


@dataclass
class Graph:
    modules: dict[str, Path]
    module_level: dict[str, set[str]] = field(default_factory=dict)
    function_level: dict[str, set[str]] = field(default_factory=dict)

    def all_edges(self) -> dict[str, set[str]]:
        return {m: self.module_level[m] | self.function_level[m] for m in self.modules}


def module_names(root: Path) -> dict[str, Path]:
    """``{dotted name: file}`` of every module of the package under ``root``."""
    out: dict[str, Path] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _targets(node: ast.AST, module: str, is_package: bool, modules: Mapping[str, Path]) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom):
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            mod = ".".join(base + ([node.module] if node.module else []))
        else:
            mod = node.module or ""
        return [f"{mod}.{a.name}" if f"{mod}.{a.name}" in modules else mod for a in node.names]
    if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
        return [a.value for a in node.args[:1] if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    if (
        isinstance(node, ast.For)
        and isinstance(node.iter, ast.Tuple | ast.List)
        and "import_module(" in ast.unparse(node)
    ):
        return [e.value for e in node.iter.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def _add(graph: Graph, module: str, target: str, toplevel: bool) -> None:
    resolved = _resolve(target, graph.modules) if target.startswith(PACKAGE) else None
    if resolved is None or resolved == module:
        return
    edges = (graph.module_level if toplevel else graph.function_level)[module]
    edges.add(resolved)
    parts = resolved.split(".")
    for i in range(1, len(parts)):
        parent = ".".join(parts[:i])
        if parent in graph.modules and not (module + ".").startswith(parent + "."):
            edges.add(parent)


def _visit(graph: Graph, module: str, node: ast.AST, toplevel: bool) -> None:
    is_package = graph.modules[module].name == "__init__.py"
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            _visit(graph, module, child, False)
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            for other in child.orelse:
                _visit(graph, module, other, toplevel)
            continue
        for target in _targets(child, module, is_package, graph.modules):
            _add(graph, module, target, toplevel)
        _visit(graph, module, child, toplevel)


def build(root: str | Path = ".") -> Graph:
    """The import graph of the package in the source tree ``root``."""
    modules = module_names(Path(root))
    graph = Graph(modules, {m: set() for m in modules}, {m: set() for m in modules})
    for module, path in modules.items():
        _visit(graph, module, ast.parse(path.read_text(encoding="utf-8")), True)
    return graph


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(edges) + 100))
    try:
        for v in sorted(edges):
            if v not in index:
                connect(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def layer(module: str) -> int:
    """Rank of a module's layer in :data:`LAYERS` (higher = may import more)."""
    if module.endswith(ENTRY_SUFFIXES):
        return len(LAYERS) - 1
    best, rank = -1, len(LAYERS) - 1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    return rank


def layer_violations(graph: Graph) -> list[tuple[str, str]]:
    """Module-level edges from a lower layer up to a higher one."""
    return sorted((a, b) for a, targets in graph.module_level.items() for b in targets if layer(a) < layer(b))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=Path(__file__).resolve().parents[1], type=Path)
    ap.add_argument("--edges", action="store_true", help="list every cross-package edge")
    args = ap.parse_args(argv)
    graph = build(args.root)
    bad = 0
    for kind, edges in (("module-level", graph.module_level), ("any", graph.all_edges())):
        found = cycles(edges)
        bad += len(found)
        print(f"cycles, {kind} imports: {len(found)}")
        for comp in found:
            print("   ", " <-> ".join(comp))
    ups = layer_violations(graph)
    bad += len(ups)
    print(f"module-level imports from a lower layer up: {len(ups)}")
    for a, b in ups:
        print(f"    {a} ({LAYERS[layer(a)][0]}) -> {b} ({LAYERS[layer(b)][0]})")
    if args.edges:
        for kind, edges in (("module", graph.module_level), ("function", graph.function_level)):
            for a in sorted(edges):
                for b in sorted(edges[a]):
                    if layer(a) != layer(b):
                        print(f"{kind}\t{a}\t{b}\t{LAYERS[layer(a)][0]} -> {LAYERS[layer(b)][0]}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The package's import graph has no cycle, and every module of it imports.

The graph is read from the source with `ast`: an edge A -> B for each `import latentlab.B` or
`from latentlab... import` in A, at module level (inside `if`/`try` too, not under
`if TYPE_CHECKING:`) and inside functions: an import deferred into a function is still a
dependency, and deferring one is how a cycle hides (config reading the registry lazily while
every model imported config). The one exception is a package's `__init__.py` deferring the
import of its own modules (the lazy `latentlab.train` facade, the list of studies): a module
importing its package is how packages work. `from P import name` points at the module P.name
when there is one, else at the package P.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import latentlab

SRC = Path(latentlab.__file__).parent.parent  # the folder that holds latentlab/


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports(tree: ast.Module, *, deferred: bool = True) -> list[ast.Import | ast.ImportFrom]:
    """The import statements of a module, without those under `if TYPE_CHECKING:`, and without those
    inside functions unless `deferred`."""
    skipped = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.If) and _is_type_checking(node.test)) or \
                (not deferred and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))):
            skipped.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in skipped]


def import_graph(root: Path, package: str = "latentlab") -> dict[str, set[str]]:
    """{module: modules of `package` it imports} for the package under `root` (see the module docstring)."""
    files = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        edges = graph.setdefault(name, set())
        for node in imports(ast.parse(path.read_text(), str(path)), deferred=not is_package):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                if node.level:  # relative: from . import x / from ..a import b
                    base = name.split(".")[: len(name.split(".")) - node.level + (1 if is_package else 0)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names]
            edges.update(t for t in targets if t in files and t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None when it has none (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_import_graph_has_no_cycle():
    graph = import_graph(SRC)
    assert len(graph) > 50 and graph["latentlab.registry"] >= {"latentlab.config", "latentlab.models.vae"}
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    """The check can fail: a package whose config imports its registry inside a function, the registry
    a model, and the model the config (the shape of an old cycle)."""
    pkg = tmp_path / "latentlab"
    (pkg / "models").mkdir(parents=True)
    (pkg / "models" / "__init__.py").write_text("")
    (pkg / "config.py").write_text("def build():\n    from latentlab import registry\n")
    (pkg / "registry.py").write_text("from latentlab.models.vae import VAE\n")
    (pkg / "models" / "vae.py").write_text("from .. import fields\ntry:\n    from latentlab.config import choice\n"
                                           "except ImportError:\n    pass\n")
    (pkg / "fields.py").write_text("")
    (pkg / "__init__.py").write_text("def __getattr__(name):\n    from latentlab import config\n")
    graph = import_graph(tmp_path)
    assert graph["latentlab.models.vae"] == {"latentlab.fields", "latentlab.config"}
    assert graph["latentlab"] == set()  # a package's __init__ deferring its own modules: no edge
    assert find_cycle(graph) == ["latentlab.config", "latentlab.registry", "latentlab.models.vae", "latentlab.config"]
    (pkg / "models" / "vae.py").write_text("from latentlab.fields import choice\n")
    assert find_cycle(import_graph(tmp_path)) is None


def test_every_module_of_the_package_imports():
    for module in sorted(import_graph(SRC)):
        if module != "latentlab.__main__":  # `python -m latentlab` runs the CLI
            importlib.import_module(module)

"""The package layout: nothing imports upward, and no import cycle (docs/design.md).

Every module of ``mpcl_sklearn`` is imported, and every import statement in it (module level
and inside functions alike, read from the source's AST) is checked against :data:`LAYERS`.

:data:`LAYERS` is data: when a module is added or moved, put its top-level name in the layer
it belongs to. A module missing from the table fails the test, so the table stays complete.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import mpcl_sklearn

PACKAGE = "mpcl_sklearn"
ROOT = Path(mpcl_sklearn.__file__).resolve().parent

#: Top-level modules and subpackages of ``mpcl_sklearn``, lowest layer first. A module may
#: import from its own layer and the layers before it, never from a later one. The order is
#: docs/design.md's package layout, with the leaf helpers it leaves implicit placed where their
#: users need them: the private helpers and ``metrics`` (which depends on nothing else of the
#: package) at the bottom, and ``plotting``, ``io`` and ``distributed`` (used by the experiment
#: runner) below ``experiments``; ``_model_allowlist`` and ``_model_file_check`` are ``io``'s
#: private parts.
LAYERS: list[tuple[str, ...]] = [
    ("_validation", "_columns", "_groups", "_scaling", "_neurokit", "_stats", "_param_validation"),
    ("metrics",),
    ("recordings",),
    ("datasets",),
    ("windowing", "window_table"),
    ("features",),
    ("preprocessing",),
    ("nn",),
    ("training",),
    ("models",),
    ("model_selection", "_protocol_folds"),
    ("plotting", "io", "_model_allowlist", "_model_file_check", "distributed"),
    ("experiments",),
    ("cli",),
]


def _layer_of() -> dict[str, int]:
    return {name: i for i, names in enumerate(LAYERS) for name in names}


def _module_files() -> dict[str, Path]:
    """Dotted name -> source file of every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((PACKAGE, *parts))] = path
    return out


def _is_package(module: str, files: dict[str, Path]) -> bool:
    return files[module].name == "__init__.py"


def _resolve(module: str, node: ast.AST, files: dict[str, Path]) -> list[str]:
    """The package modules an import statement in ``module`` loads (empty for outside ones)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == PACKAGE]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        base = module if _is_package(module, files) else module.rsplit(".", 1)[0]
        base = base.rsplit(".", node.level - 1)[0] if node.level > 1 else base
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
        if target.split(".")[0] != PACKAGE:
            return []
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in files:  # ``from . import fast``: the submodule itself
            out.append(sub)
        elif target == PACKAGE and alias.name in mpcl_sklearn._LAZY:
            # ``from mpcl_sklearn import X``: the module the lazy public name comes from
            out.append(f"{PACKAGE}.{mpcl_sklearn._LAZY[alias.name]}")
        elif target == PACKAGE and alias.name in ("Recordings", "Trial"):
            out.append(f"{PACKAGE}.recordings")
        else:
            out.append(target)
    return out


def import_edges(module: str, source: str, files: dict[str, Path]) -> list[tuple[str, int]]:
    """(imported package module, line) for every import in ``source``, functions included."""
    edges = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            edges += [(t, node.lineno) for t in _resolve(module, node, files)]
    return edges


def _unit(module: str) -> str:
    """The top-level name a module's layer is looked up by (``datasets`` for its submodules)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(module: str, edges, layer_of: dict[str, int]) -> list[str]:
    """The imports of ``module`` that go to a later layer, or to the package's ``__init__``."""
    here = layer_of[_unit(module)]
    bad = []
    for target, line in edges:
        unit = _unit(target)
        if not unit:
            bad.append(f"{module}:{line} imports the package itself ({target})")
        elif layer_of[unit] > here:
            bad.append(f"{module}:{line} imports {target} (layer {unit!r} is above {module})")
    return bad


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as a list of modules, or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


@pytest.fixture(scope="module")
def files() -> dict[str, Path]:
    return _module_files()


@pytest.fixture(scope="module")
def graph(files) -> dict[str, list[tuple[str, int]]]:
    return {m: import_edges(m, p.read_text(encoding="utf-8"), files) for m, p in files.items()}


def test_every_module_imports(files):
    for module in files:
        importlib.import_module(module)


def test_every_module_has_a_layer(files):
    layer_of = _layer_of()
    missing = sorted({_unit(m) for m in files if _unit(m) and _unit(m) not in layer_of})
    assert not missing, f"add {missing} to LAYERS in {__file__}"
    assert len(layer_of) == sum(map(len, LAYERS)), "a name appears in two layers"


def test_nothing_imports_upward(graph):
    layer_of = _layer_of()
    bad = []
    for module, edges in graph.items():
        if module != PACKAGE:  # the package's __init__ re-exports everything (lazily)
            bad += upward_imports(module, edges, layer_of)
    assert not bad, "\n".join(bad)


def test_no_import_cycle(graph):
    edges = {m: {t for t, _ in e if t != m} for m, e in graph.items() if m != PACKAGE}
    cycle = find_cycle(edges)
    assert cycle is None, " -> ".join(cycle)


def test_checker_catches_upward_and_cyclic_imports(files):
    """The checks above can fail: an upward import inside a function is reported, through a
    relative import, an absolute one and a lazy public name alike, and a cycle is found."""
    source = (
        "def load():\n"
        "    from ..experiments import prepare_dataset\n"
        "    from mpcl_sklearn.cli import main\n"
        "    from .. import subject_independent_evaluate\n"
        "    from .. import __version__\n"
        "    from ..recordings import Recordings\n"
        "    from . import synthetic\n"
    )
    module = f"{PACKAGE}.datasets.dmer"
    edges = import_edges(module, source, files)
    assert [t.split(".", 1)[-1] for t, _ in edges] == [
        "experiments",
        "cli",
        "model_selection",  # the module the lazy public name comes from
        PACKAGE,  # a name defined in the package's __init__
        "recordings",
        "datasets.synthetic",
    ]
    bad = upward_imports(module, edges, _layer_of())
    assert [int(b.split(":")[1].split()[0]) for b in bad] == [2, 3, 4, 5], bad
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "d": {"a"}}) is None

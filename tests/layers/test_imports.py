"""The Python layers (docs/architecture.md): dependencies run one way, no import cycle, and
no package attribute shadows one of its own submodules.

Read from the source tree with ``ast``, so a lazy import inside a function counts too: a
cycle hidden in a function body still breaks the layering.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

#: Installed package -> its folder in the repository (pyproject.toml's package-dir).
ROOTS = {
    "keystead": "native/keystead",
    "keystead.softhsm_bridge": "softhsm_bridge",
    "keystead.manager": "manager",
    "keystead.manager.cli": "manager/cli",
    "keystead.bench": "bench",
}

#: Layer of each package, lowest first: a module may import only its own layer or lower ones.
#: The core (cffi wrappers, audit verifier, the CK_RV exceptions) knows nothing above it; the
#: bridge reaches modules; the manager and the benchmark use the bridge; the CLI drives both.
LAYERS = (
    ("keystead", 0),
    ("keystead.softhsm_bridge", 1),
    ("keystead.manager", 2),
    ("keystead.bench", 2),
    ("keystead.manager.cli", 3),
)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for pkg, folder in ROOTS.items():
        base = REPO / folder
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join([pkg, *parts])
            # a folder mapped as its own package wins over its parent's walk
            found.setdefault(name, path)
    return found


MODULES = _modules()


def _layer(module: str) -> int:
    best, rank = "", -1
    for prefix, level in LAYERS:
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, level
    return rank


def _resolve(module: str, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    is_pkg = MODULES[module].name == "__init__.py"
    base = module.split(".")
    base = base if is_pkg else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(module: str) -> set[str]:
    """The project modules ``module`` imports, anywhere in its body."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    targets: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES else base)
        elif (isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            targets.add(node.args[0].value)
    return {t for t in targets if t in MODULES and t != module}


GRAPH = {m: _imports(m) for m in MODULES}


def test_every_module_is_read():
    assert {"keystead.core", "keystead.softhsm_bridge.raw", "keystead.manager.service",
            "keystead.manager.cli", "keystead.bench.runner"} <= set(GRAPH)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_down_the_layers(module):
    mine = _layer(module)
    assert mine >= 0, f"{module} is in no layer"
    upward = sorted(t for t in GRAPH[module] if _layer(t) > mine)
    assert not upward, f"{module} (layer {mine}) imports a higher layer: {upward}"


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for t in sorted(GRAPH[m]):
            if state.get(t) == 1:
                return [*stack[stack.index(t):], t]
            if t not in state:
                found = visit(t)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(GRAPH):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_no_package_attribute_shadows_a_submodule(package):
    pkg = importlib.import_module(package)
    for info in pkgutil.iter_modules(pkg.__path__):
        value = pkg.__dict__.get(info.name)
        if value is None:
            continue
        sub = importlib.import_module(f"{package}.{info.name}")
        assert value is sub, (f"{package}.{info.name} is {type(value).__name__} {value!r}, "
                              f"not the submodule {sub.__name__}")

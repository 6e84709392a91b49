"""Layers only import downward, the core has no I/O, the simulator is independent, no cycles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "ibstream"

# package (first path component below ibstream/) -> ibstream packages it must not import
FORBIDDEN_INTERNAL = {
    "protocol": {"aio", "sync", "sinks", "cli", "service", "sim", "state"},
    "state": {"aio", "sync", "sinks", "cli", "service", "sim"},
    "aio": {"sync", "sinks", "cli", "service", "sim"},
    "sync": {"cli", "service", "sim"},
    "sinks": {"cli", "service", "sim"},
    "sim": {"protocol", "state", "aio", "sync", "sinks", "service"},
    "service": {"cli"},
    "remote": {"cli", "service", "sim", "bridge", "sync", "sinks"},
    "bridge": {"cli", "service", "sim", "sync"},
}
CORE_FORBIDDEN_STDLIB = {"asyncio", "socket", "threading", "time", "aiohttp", "selectors"}


def _runtime_imports(path: Path) -> set[str]:
    """Absolute module names imported at runtime (imports under ``if TYPE_CHECKING:`` skipped)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in ast.walk(node):
                skip.add(id(sub))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules() -> dict[str, Path]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layer_rules(module: str) -> None:
    """Each module imports only from its own layer or below."""
    parts = module.split(".")
    package = parts[1] if len(parts) > 1 else ""
    imports = _runtime_imports(MODULES[module])
    forbidden = FORBIDDEN_INTERNAL.get(package, set())
    for name in imports:
        nparts = name.split(".")
        if nparts[0] == "ibstream" and len(nparts) > 1:
            assert nparts[1] not in forbidden, f"{module} imports {name}"
        if package in ("protocol", "state", "serialize", "backoff", "masking", "exceptions"):
            assert nparts[0] not in CORE_FORBIDDEN_STDLIB, f"core module {module} imports {name}"


def test_no_import_cycles() -> None:
    """The runtime import graph between ibstream modules has no cycle."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        deps = set()
        for name in _runtime_imports(path):
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            # importing a package's own __init__ from inside it is not a cycle we care about
            if name and name != module and not module.startswith(name + "."):
                deps.add(name)
        graph[module] = deps
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)

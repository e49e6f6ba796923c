"""The layout's rules (docs/architecture.md), read off the source's imports.

Each rule names what still breaks it, with why, in a list of its own: the list may only
shrink (an entry that no longer breaks the rule fails the test too, so it is removed).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "conveyor"

VOCABULARY = {"errors", "job", "ids", "clock", "events", "retry", "serializers", "logs",
              "_version"}  # fmt: skip
"""Top-level modules every layer may use."""
LAYERS = {
    "stores": 1,
    "definitions": 2,
    "metrics": 3, "tracing": 3,
    "runtime": 4,
    "client": 5,
    "http": 6, "testing": 6, "__init__": 6,
    "cli": 7,
    "__main__": 8,
    "contrib": 8,  # integrations (Django): above the CLI, which manage.py conveyor runs
}  # fmt: skip
"""A module imports from its own layer's part, lower layers and the vocabulary only."""

LONG_MODULES = {
    # module: why it is still longer than MAX_LINES (issue 20 splits them)
}
MAX_LINES = 400

CYCLES = {
    # modules that import each other (at run time or for type checking): why
}

PRIVATE_READS = {
    # module: the private attributes of other modules' objects it still reads, and why
    "conveyor.stores.redis._conn": ({"_close", "_writer"}, "redis-py's connection"),
    "conveyor.stores.redis._armed": ({"_close"}, "redis-py's connection"),
    "conveyor.stores.redis._listener": ({"_sock"}, "redis-py's connection"),
    "conveyor.contrib.django.backend": ({"_live_receivers"}, "Django's Signal: who asend calls"),
}  # fmt: skip
NAMEDTUPLE_API = {"_replace", "_asdict", "_fields", "_make"}

STORES_BUILT = {
    # module outside the facade that imports a store package: why
}


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(module: str, path: Path) -> Iterator[tuple[str, str]]:
    """``(imported module, imported name)`` for every import of a conveyor module."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("conveyor"):
                    yield alias.name, ""
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            if not base.startswith("conveyor"):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in MODULES:
                    yield sub, ""
                else:
                    yield base, alias.name


MODULES = dict(_modules())
GRAPH = {
    module: {target for target, _ in _imports(module, path)} for module, path in MODULES.items()
}


def _part(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _lines(module: str) -> int:
    path = MODULES[module]
    return len(path.read_text().splitlines())


def test_every_module_imports_only_its_own_and_lower_layers() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        part = _part(module)
        if part in VOCABULARY:
            continue
        for target in targets:
            other = _part(target)
            if other in VOCABULARY or other == part:
                continue
            if LAYERS[other] >= LAYERS[part]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_only_a_store_imports_that_stores_internals() -> None:
    wrong = []
    for module, path in MODULES.items():
        for target, name in _imports(module, path):
            if not target.startswith("conveyor.stores."):
                continue
            store = ".".join(target.split(".")[:3])
            internal = any(part.startswith("_") for part in target.split(".")[3:])
            if (internal or name.startswith("_")) and not module.startswith(store):
                wrong.append(f"{module} -> {target}:{name}")
    assert wrong == []


def test_stores_are_built_behind_the_facade_only() -> None:
    # the contract (protocols, records, signals, event channel) and store_from_url
    shared = {"conveyor.stores"} | {
        f"conveyor.stores.{name}" for name in ("base", "records", "signals", "channel")
    }
    building = {
        module
        for module, targets in GRAPH.items()
        if _part(module) not in ("stores", "client")
        and any(t.startswith("conveyor.stores.") and t not in shared for t in targets)
    }
    assert building == set(STORES_BUILT)


def test_no_module_imports_another_modules_private_names() -> None:
    wrong = []
    for module, path in MODULES.items():
        for target, name in _imports(module, path):
            if name.startswith("_") and name != "__version__" and target != module:
                wrong.append(f"{module} imports {target}.{name}")
    assert wrong == []


def _private_reads(path: Path) -> set[str]:
    """Private attributes read off anything but ``self`` or ``cls``."""
    reads = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and node.attr not in NAMEDTUPLE_API
            and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
        ):
            reads.add(node.attr)
    return reads


def _own_names(path: Path) -> set[str]:
    """The private names a module defines itself (its classes' attributes included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_no_module_reads_the_private_attributes_of_another_modules_objects() -> None:
    found = {}
    for module, path in MODULES.items():
        foreign = _private_reads(path) - _own_names(path)
        if foreign:
            found[module] = foreign
    assert found == {module: names for module, (names, _why) in PRIVATE_READS.items()}


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for target in GRAPH.get(todo.pop(), ()):
            if target in GRAPH and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _cycles() -> set[frozenset[str]]:
    """The groups of two or more modules that each reach the others through imports."""
    reach = {module: _reachable(module) for module in GRAPH}
    groups = {
        frozenset({module, *(other for other in reach[module] if module in reach[other])})
        for module in GRAPH
    }
    return {group for group in groups if len(group) > 1}


def test_no_import_cycles_but_the_known_ones() -> None:
    assert _cycles() == set(CYCLES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_is_short(module: str) -> None:
    if module in LONG_MODULES:
        assert _lines(module) > MAX_LINES, f"{module} is short now: drop it from LONG_MODULES"
    else:
        assert _lines(module) <= MAX_LINES, f"{module}: {_lines(module)} lines"

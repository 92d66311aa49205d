"""The package's shape: imports between aicache's modules run one way, and no module imports
another module's private name. Read from the source with ``ast``; nothing is imported."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aicache"


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported from
    name: str | None  # the name taken from it (None for ``import x``)
    top_level: bool  # runs on import (not under TYPE_CHECKING, not inside a function)
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def resolve(module: str, package: bool, level: int, target: str | None) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target or ""
    base = module.split(".")
    if not package:
        base.pop()
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(path: Path) -> list[Import]:
    return imports_in(path.read_text(encoding="utf-8"), module_name(path), is_package(path))


def imports_in(code: str, module: str, package: bool = False) -> list[Import]:
    """Every import in ``code``, read as the source of ``module``."""
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ImportFrom):
                target = resolve(module, package, child.level, child.module)
                for alias in child.names:
                    found.append(Import(module, target, alias.name, top, child.lineno))
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(module, alias.name, None, top, child.lineno))
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) or (
                isinstance(child, ast.If) and is_type_checking(child.test)
            ):
                visit(child, False)
            else:
                visit(child, top)

    visit(ast.parse(code), True)
    return found


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def all_imports() -> list[Import]:
    return [i for path in MODULES.values() for i in imports_of(path)]


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_part_outside(module: str, importer: str) -> str | None:
    """The private part of ``module`` that ``importer`` may not reach: ``aicache.providers._retry``
    is private to ``aicache.providers``, so only modules inside that package may import it."""
    parts = module.split(".")
    for i, part in enumerate(parts):
        if is_private(part):
            package = ".".join(parts[:i])
            if importer != package and not importer.startswith(package + "."):
                return ".".join(parts[: i + 1])
    return None


def private_imports(imports: list[Import]) -> list[tuple[str, str, int]]:
    """``(module, what, line)`` for every import of a private name across aicache modules.

    ``from ._keys import make_key`` (a private module of the package the importer is in) is
    fine; ``from ._keys import _Binder`` is not, nor ``from aicache.providers import _retry`` in
    a module outside ``aicache.providers``.
    """
    bad = []
    for imp in imports:
        if not imp.target.startswith("aicache"):
            continue
        full = f"{imp.target}.{imp.name}" if imp.name else imp.target
        if imp.name is not None and full not in MODULES and is_private(imp.name):
            bad.append((imp.module, full, imp.line))  # a private name inside a module
            continue
        reached = private_part_outside(full if full in MODULES else imp.target, imp.module)
        if reached is not None:
            bad.append((imp.module, reached, imp.line))
    return bad


def private_attributes(code: str, module: str, package: bool = False) -> list[tuple[str, str, int]]:
    """``(module, what, line)`` for ``_stats._summarise``-style reads of a private name through
    an imported aicache module (``_stats.root._by_label`` too)."""
    bound = {}
    for imp in imports_in(code, module, package):
        full = f"{imp.target}.{imp.name}" if imp.name else imp.target
        if imp.name is not None and full in MODULES:
            bound[imp.name] = full
    bad = []
    for node in ast.walk(ast.parse(code)):
        if not isinstance(node, ast.Attribute):
            continue
        chain = [node.attr]
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name) and base.id in bound and is_private(node.attr):
            path = ".".join([bound[base.id], *reversed(chain)])
            bad.append((module, path, node.lineno))
    return bad


def module_graph(imports: list[Import]) -> dict[str, set[str]]:
    """Module-level imports between aicache modules: importer -> imported modules."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for imp in imports:
        if not imp.top_level or not imp.target.startswith("aicache"):
            continue
        full = f"{imp.target}.{imp.name}" if imp.name else imp.target
        target = full if full in MODULES else imp.target
        if target in MODULES and target != imp.module:
            graph[imp.module].add(target)
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return groups


def package_parents(module: str) -> set[str]:
    """A package's ``__init__`` runs before its modules: an edge to it is no circle of interest
    when the package is the importer's own (``aicache.backends._file`` -> ``aicache``)."""
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def test_no_module_imports_another_modules_private_name() -> None:
    found = private_imports(all_imports())
    for name, path in MODULES.items():
        found += private_attributes(path.read_text(encoding="utf-8"), name, is_package(path))
    assert found == [], "private names imported across modules:\n" + "\n".join(
        f"  {m} line {line}: {what}" for m, what, line in found
    )


def test_no_import_circle_between_aicache_modules() -> None:
    graph = module_graph(all_imports())
    for module, targets in graph.items():
        targets -= package_parents(module)
    assert circles(graph) == []


def test_every_module_logs_through_the_one_aicache_logger() -> None:
    makers = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and name != "aicache._log"
            ):
                makers.append(f"{name} line {node.lineno}")
    assert makers == [], f"loggers made outside aicache._log: {makers}"


# -- the checks themselves catch what they are meant to ------------------------------------------


def test_the_private_name_check_catches_a_from_import() -> None:
    code = (
        "from .._keys import _Binder, make_key\n"
        "from ..providers import _retry\n"
        "from ..providers._proxy import CachedClient\n"
    )
    imports = imports_in(code, "aicache.demo._x")
    flagged = {what for _, what, _ in private_imports(imports)}
    assert flagged == {
        "aicache._keys._Binder",
        "aicache.providers._retry",
        "aicache.providers._proxy",
    }


def test_the_private_name_check_catches_a_private_attribute_of_an_imported_module() -> None:
    code = "from . import _stats\n_stats.root._by_label.items()\n_stats._summarise('x', [])\n"
    flagged = {what for _, what, _ in private_attributes(code, "aicache._x")}
    assert flagged == {"aicache._stats.root._by_label", "aicache._stats._summarise"}


def test_the_private_name_check_allows_private_modules_of_the_own_package() -> None:
    code = "from ._keys import make_key\nfrom . import _clock, _stats\n"
    assert private_imports(imports_in(code, "aicache._x")) == []
    code = "from .. import _clock\nfrom ._base import Backend\n"
    assert private_imports(imports_in(code, "aicache.backends._x")) == []


def test_the_circle_check_finds_a_circle_and_ignores_imports_inside_functions() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_imports_under_type_checking_or_in_functions_are_not_module_level() -> None:
    code = (
        "from typing import TYPE_CHECKING\n"
        "from . import _chain\n"
        "if TYPE_CHECKING:\n    from ._config import CacheConfig\n"
        "def f():\n    from ._lease import Leases\n"
    )
    tops = {(i.target, i.name, i.top_level) for i in imports_in(code, "aicache._x")}
    assert ("aicache", "_chain", True) in tops
    assert ("aicache._config", "CacheConfig", False) in tops
    assert ("aicache._lease", "Leases", False) in tops


@pytest.mark.parametrize("module", ["aicache._cache", "aicache._flight", "aicache._policy"])
def test_the_core_names_no_concrete_tier_and_no_provider(module: str) -> None:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    named = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    named |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    targets = {i.target for i in imports_of(MODULES[module])}
    assert not named & {"RedisBackend", "FileBackend", "MemoryBackend", "modules"}
    assert not {t for t in targets if t.startswith(("aicache.providers", "aicache.backends._"))}

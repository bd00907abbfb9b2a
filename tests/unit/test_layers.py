"""Every import in stratlogic/ follows the layer contract written down in layers.toml (issue 16).

The checker resolves each import form to the module it loads: ``import a.b.c`` (as z), ``from a import b``
(b a module, or a name of a), relative imports, imports inside functions and under ``if TYPE_CHECKING:``,
and module names given as strings (``importlib.import_module("stratlogic.x")``, a registry value
``"stratlogic.cli.jobs:app"``). It then finds the part of the importer and of the imported module and reports
what layers.toml does not allow, one line each: ``path:line: <importer part> -> <imported part> (rule)``.

Not seen (said here so nobody relies on it): a module name built at run time (an f-string or a variable
given to import_module), and ``__import__`` with a relative name.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "stratlogic"
#: A string that names a module (``stratlogic.cli.jobs``) or a registry target (``stratlogic.cli.jobs:app``).
_MODULE_STRING = re.compile(r"^stratlogic(?:\.[A-Za-z_]\w*)+(?::[A-Za-z_]\w*)?$")
_IMPORT_FUNCTIONS = {"import_module", "__import__"}


@dataclass(frozen=True)
class Import:
    """One import found in a source: the module it loads, the line, and whether it is for types only."""

    module: str
    line: int
    type_only: bool


@dataclass
class Layers:
    """layers.toml read: the parts and what each may import, and the named exceptions."""

    parts: dict[str, dict[str, Any]]
    exceptions: list[dict[str, str]] = field(default_factory=list)

    def part_of(self, module: str) -> str | None:
        """The part a module belongs to: an exact entry first, else the longest matching module name."""
        for name, part in self.parts.items():
            if module in part.get("exact", []):
                return name
        best: tuple[int, str] | None = None
        for name, part in self.parts.items():
            for prefix in part.get("modules", []):
                if _within(module, prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), name)
        return None if best is None else best[1]

    def excepted(self, importer: str, imported: str) -> bool:
        return any(_within(importer, e["importer"]) and _within(imported, e["imported"]) for e in self.exceptions)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def load_layers(path: Path = ROOT / "layers.toml") -> Layers:
    data = tomllib.loads(path.read_text())
    return Layers(parts=data["parts"], exceptions=data.get("exceptions", []))


def module_name(path: Path, root: Path = ROOT) -> str:
    """``stratlogic/cli/jobs.py`` -> ``stratlogic.cli.jobs``; a package's ``__init__.py`` -> the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def known_modules(root: Path = ROOT) -> set[str]:
    return {module_name(path, root) for path in (root / PACKAGE).rglob("*.py")}


# --- finding imports --------------------------------------------------------------------------------------


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _walk(node: ast.AST, type_only: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Every node with whether it sits under ``if TYPE_CHECKING:`` (its ``else`` runs: not type-only)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            yield child, type_only
            for inner in child.body:
                yield inner, True
                yield from _walk(inner, True)
            for inner in child.orelse:
                yield inner, type_only
                yield from _walk(inner, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def _package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module ``from ... import`` reads from, relative imports resolved against the importer's package."""
    if node.level == 0:
        return node.module or ""
    base = _package_of(importer, is_package).split(".")
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _resolve(name: str, modules: set[str]) -> str:
    """The longest known module a dotted name starts with (``stratlogic.jobs.claim`` -> ``stratlogic.jobs``)."""
    pieces = name.split(".")
    for end in range(len(pieces), 0, -1):
        candidate = ".".join(pieces[:end])
        if candidate in modules:
            return candidate
    return name


def _string_imports(node: ast.AST, modules: set[str]) -> Iterator[str]:
    """Module names given as strings: import_module("…")/__import__("…"), and an item of a literal dict, list,
    tuple or set that is exactly a known module or a ``module:attribute`` target (the CLI registry, a table of
    names imported on first use). A logger's name or a file name passed to a call is not an import."""
    items: list[ast.expr | None] = []
    if isinstance(node, ast.Call):
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
        if called in _IMPORT_FUNCTIONS and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            yield _resolve(node.args[0].value, modules)
        return
    if isinstance(node, ast.Dict):
        items = [*node.keys, *node.values]
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = list(node.elts)
    for item in items:
        if isinstance(item, ast.Constant) and isinstance(item.value, str) and _MODULE_STRING.match(item.value):
            name = item.value.partition(":")[0]
            if name in modules:
                yield name


def imports_of(source: str, importer: str, modules: set[str], *, is_package: bool = False) -> list[Import]:
    """Every module ``source`` (the module ``importer``) imports, by any of the forms above."""
    found: list[Import] = []
    seen_strings: set[tuple[str, int]] = set()
    for node, type_only in _walk(ast.parse(source)):
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Import):
            found += [Import(_resolve(alias.name, modules), line, type_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            origin = _absolute(node, importer, is_package)
            for alias in node.names:
                sub = f"{origin}.{alias.name}"
                found.append(Import(sub if sub in modules else _resolve(origin, modules), line, type_only))
        for name in _string_imports(node, modules):
            if (name, line) not in seen_strings and name.split(".")[0] == PACKAGE:
                seen_strings.add((name, line))
                found.append(Import(name, line, type_only))
    return found


# --- checking them ----------------------------------------------------------------------------------------


def _private_parent(module: str) -> str | None:
    """The package a private module belongs to (``stratlogic.repositories._trail`` -> ``stratlogic.repositories``)."""
    pieces = module.split(".")
    for index, piece in enumerate(pieces):
        if piece.startswith("_") and not piece.startswith("__"):
            return ".".join(pieces[:index])
    return None


def violations_of(source: str, importer: str, layers: Layers, modules: set[str], *, shown: str,
                  is_package: bool = False) -> list[str]:
    """What in ``source`` the layers do not allow, as ``shown:line: part -> part (rule)``."""
    own = layers.part_of(importer)
    if own is None:
        return [f"{shown}:1: {importer} -> ? (no part in layers.toml holds this module)"]
    rules = layers.parts[own]
    wrong: list[str] = []
    for found in dict.fromkeys(imports_of(source, importer, modules, is_package=is_package)):  # once per line
        top = found.module.split(".")[0]
        if top != PACKAGE:
            if top in rules.get("forbid_external", []):
                wrong.append(f"{shown}:{found.line}: {own} -> {top} (forbidden external package {found.module})")
            continue
        if found.module == importer:
            continue
        target = layers.part_of(found.module)
        parent = _private_parent(found.module)
        if parent is not None and not _within(importer, parent) and not layers.excepted(importer, found.module):
            wrong.append(f"{shown}:{found.line}: {own} -> {target} (private: {found.module} is for {parent} only)")
            continue
        allowed = set(rules.get("may_import", [])) | (set(rules.get("may_import_types", [])) if found.type_only
                                                      else set())
        if target in allowed or layers.excepted(importer, found.module):
            continue
        kind = "type-only import" if found.type_only else "import"
        wrong.append(f"{shown}:{found.line}: {own} -> {target} ({kind} of {found.module} not allowed to {own})")
    return wrong


def package_violations(root: Path = ROOT, layers: Layers | None = None) -> list[str]:
    layers = layers or load_layers(root / "layers.toml")
    modules = known_modules(root)
    wrong: list[str] = []
    for path in sorted((root / PACKAGE).rglob("*.py")):
        wrong += violations_of(path.read_text(), module_name(path, root), layers, modules,
                               shown=str(path.relative_to(root)), is_package=path.name == "__init__.py")
    return wrong


# --- the tests --------------------------------------------------------------------------------------------


def test_every_import_follows_the_layers() -> None:
    wrong = package_violations()
    assert wrong == [], f"{len(wrong)} imports break layers.toml:\n" + "\n".join(wrong)


def test_layers_toml_is_consistent() -> None:
    layers = load_layers()
    names = set(layers.parts)
    for name, part in layers.parts.items():
        named = set(part.get("may_import", [])) | set(part.get("may_import_types", []))
        assert named <= names, f"part {name} names unknown parts {sorted(named - names)}"
        assert part.get("modules") or part.get("exact"), f"part {name} holds no module"
    for exception in layers.exceptions:
        assert exception.get("reason", "").strip(), f"exception {exception} gives no reason"
    modules = known_modules()
    for exception in layers.exceptions:
        for key in ("importer", "imported"):
            assert any(_within(m, exception[key]) for m in modules), f"{exception[key]} is no module"


def test_every_module_has_a_part() -> None:
    layers = load_layers()
    assert sorted(m for m in known_modules() if layers.part_of(m) is None) == []


# --- the checker itself, on a synthetic package -------------------------------------------------------------

SYNTHETIC_LAYERS = Layers(parts={
    "faces": {"modules": ["stratlogic.cli"], "may_import": ["faces", "services"], "may_import_types": ["low"],
              "forbid_external": ["sqlalchemy"]},
    "services": {"modules": ["stratlogic.services"], "may_import": ["services", "low"]},
    "low": {"modules": ["stratlogic.repositories", "stratlogic.jobs"], "may_import": ["low"]},
    "low.public": {"exact": ["stratlogic.repositories"], "may_import": ["low"]},
}, exceptions=[{"importer": "stratlogic.cli.special", "imported": "stratlogic.jobs", "reason": "a test"}])
SYNTHETIC_MODULES = {"stratlogic", "stratlogic.cli", "stratlogic.cli.face", "stratlogic.cli.special",
                     "stratlogic.cli._helpers", "stratlogic.services", "stratlogic.services.jobs",
                     "stratlogic.repositories", "stratlogic.repositories.users", "stratlogic.repositories._trail",
                     "stratlogic.jobs"}

#: (source, how many violations, a text each must hold): one import form per case, imported by
#: stratlogic.cli.face (a module of part "faces", which may import only faces and services).
FORMS: dict[str, tuple[str, int, str]] = {
    "import dotted": ("import stratlogic.repositories.users\n", 1, "faces -> low"),
    "import as": ("import stratlogic.repositories.users as users\n", 1, "faces -> low"),
    "from package import module": ("from stratlogic import jobs\n", 1, "import of stratlogic.jobs"),
    "from module import name": ("from stratlogic.repositories.users import UserRepository\n", 1,
                                "import of stratlogic.repositories.users"),
    "from package import name (exact part)": ("from stratlogic.repositories import UserRepository\n", 1,
                                              "faces -> low.public"),
    "relative, two levels": ("from ..repositories import users\n", 1, "stratlogic.repositories.users"),
    "relative, two levels, a name": ("from ..jobs import claim\n", 1, "import of stratlogic.jobs"),
    "inside a function": ("def f() -> None:\n    from stratlogic.jobs import claim\n", 1, ":2: faces -> low"),
    "import_module": ("import importlib\nimportlib.import_module('stratlogic.jobs')\n", 1, ":2: faces -> low"),
    "bare import_module": ("from importlib import import_module\nimport_module('stratlogic.jobs')\n", 1,
                           "faces -> low"),
    "registry string": ("COMMANDS = {'x': ('stratlogic.repositories.users:UserRepository', 'help')}\n", 1,
                        "faces -> low"),
    "private module": ("from stratlogic.repositories import _trail\n", 1, "private: stratlogic.repositories._trail"),
    "external": ("from sqlalchemy import select\n", 1, "faces -> sqlalchemy (forbidden external"),
    "external dotted": ("import sqlalchemy.orm\n", 1, "forbidden external package sqlalchemy.orm"),
    "type-only of an allowed-for-types part": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                               "    from stratlogic.jobs import Job\n", 0, ""),
    "type-only else branch runs": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\nelse:\n"
                                   "    from stratlogic.jobs import Job\n", 1, ":5: faces -> low"),
    "typing.TYPE_CHECKING spelled out": ("import typing\nif typing.TYPE_CHECKING:\n"
                                         "    import stratlogic.repositories.users\n", 0, ""),
    "allowed: services": ("from stratlogic.services import jobs\nimport stratlogic.services.jobs\n", 0, ""),
    "allowed: own private helper": ("from stratlogic.cli._helpers import x\nfrom . import _helpers\n", 0, ""),
    "allowed: relative sibling": ("from .special import thing\n", 0, ""),
    "a docstring naming a module is no import": ('"""See stratlogic.jobs.claim for the rules."""\n', 0, ""),
    "a logger named like a module is no import": ("import logging\nlogging.getLogger('stratlogic.jobs')\n", 0, ""),
    "lazy-names table": ("_LAZY = {'claim': 'stratlogic.jobs'}\n", 1, "import of stratlogic.jobs"),
}


@pytest.mark.parametrize("case", list(FORMS))
def test_the_checker_finds_each_import_form(case: str) -> None:
    source, count, text = FORMS[case]
    wrong = violations_of(source, "stratlogic.cli.face", SYNTHETIC_LAYERS, SYNTHETIC_MODULES,
                          shown="stratlogic/cli/face.py")
    assert len(wrong) == count, wrong
    assert all(text in line and line.startswith("stratlogic/cli/face.py:") for line in wrong), wrong


def test_the_checker_applies_named_exceptions_and_package_relative_imports() -> None:
    assert violations_of("from stratlogic.jobs import claim\n", "stratlogic.cli.special", SYNTHETIC_LAYERS,
                         SYNTHETIC_MODULES, shown="s.py") == []
    # a package's __init__: "from . import x" is its own submodule
    wrong = violations_of("from . import face\nfrom .. import jobs\n", "stratlogic.cli", SYNTHETIC_LAYERS,
                          SYNTHETIC_MODULES, shown="stratlogic/cli/__init__.py", is_package=True)
    assert wrong == ["stratlogic/cli/__init__.py:2: faces -> low (import of stratlogic.jobs not allowed to faces)"]


def test_a_module_in_no_part_is_reported() -> None:
    wrong = violations_of("import os\n", "stratlogic.widgets", SYNTHETIC_LAYERS, SYNTHETIC_MODULES, shown="w.py")
    assert wrong == ["w.py:1: stratlogic.widgets -> ? (no part in layers.toml holds this module)"]


def test_the_real_layers_place_the_contracts_modules() -> None:
    layers = load_layers()
    expected: Mapping[str, str] = {
        "stratlogic.cli.jobs": "faces.cli", "stratlogic.workbench": "faces.workbench", "stratlogic": "faces.package",
        "stratlogic.services._base": "services", "stratlogic.jobs": "engines", "stratlogic.analytics.users": "engines",
        "stratlogic.analytics.window": "engines.window", "stratlogic.security": "repositories",
        "stratlogic.repositories.jobs": "repositories", "stratlogic.models.job": "models",
        "stratlogic.db": "base.public", "stratlogic.db.actor": "base.public", "stratlogic.db.session": "base",
        "stratlogic.errors": "base.public"}
    assert {module: layers.part_of(module) for module in expected} == expected

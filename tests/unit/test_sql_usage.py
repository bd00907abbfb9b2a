"""SQL is built and run only in the parts that own rows: repositories/, analytics/ (read-only aggregates and
exports), models/ (DDL such as partial-index predicates), db/ and migrations/.

Names are resolved through imports, never matched as text: ``select(...)`` counts only when ``select`` is
bound to SQLAlchemy's (``from sqlalchemy import select``, ``import sqlalchemy as sa`` then ``sa.select``,
``from sqlalchemy import delete as sa_delete``, a stratlogic module re-exporting one, a function-local
import), so ``hash.update(...)`` and ``store.delete(...)`` are not SQL. Raw SQL counts too: a string that
reads as a statement handed to ``execute``/``set_sql_query`` and the like, directly, through a constant,
an f-string, ``.format`` or a loop over a tuple of statements.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Where SQL may be written (paths relative to the project root).
ALLOWED = ("stratlogic/repositories/", "stratlogic/analytics/", "stratlogic/models/", "stratlogic/db/",
           "migrations/")
SCANNED = ("stratlogic", "migrations")
#: SQLAlchemy's statement constructors, reached through its modules (``sqlalchemy.orm.Session.delete`` is
#: a method of a class, not one of these).
CONSTRUCT = re.compile(r"sqlalchemy(\.[a-z_][a-z0-9_]*)*\.(select|insert|update|delete|text)")
#: Methods that run a statement given as text (DB-API cursors, SQLAlchemy connections, ADBC statements).
RUNS_TEXT = frozenset({"execute", "executemany", "executescript", "exec_driver_sql", "set_sql_query"})
RAW_SQL = "a SQL statement given as text"
STATEMENT = re.compile(r"\s*(SELECT|INSERT|UPDATE|DELETE|WITH|SET|BEGIN|CREATE|DROP|ALTER|TRUNCATE|COPY|LOCK|"
                       r"PRAGMA|VACUUM|ANALYZE)\s", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    """One use of SQL outside the allowed parts."""

    path: str
    line: int
    name: str
    resolved: str

    def __str__(self) -> str:
        if self.resolved == RAW_SQL:
            return f"{self.path}:{self.line}: {self.name} runs {RAW_SQL}"
        return f"{self.path}:{self.line}: {self.name} (resolved as {self.resolved})"


def module_name(path: str) -> str:
    """``stratlogic/audit/verify.py`` -> ``stratlogic.audit.verify`` (a package's ``__init__`` is the package)."""
    parts = path.removesuffix(".py").split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved against ``module``."""
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[:len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _import_bindings(nodes: Iterable[ast.AST], module: str, is_package: bool) -> dict[str, str]:
    """Local name -> dotted name, for every import among ``nodes``."""
    found: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    found[alias.asname] = alias.name
                else:
                    top = alias.name.split(".")[0]
                    found[top] = top
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node, module, is_package)
            for alias in node.names:
                if alias.name != "*":
                    found[alias.asname or alias.name] = f"{source}.{alias.name}"
    return found


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything that is not a plain name or attribute chain."""
    if isinstance(node, ast.Name):
        return [node.id]
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return None if base is None else [*base, node.attr]
    return None


def expand(dotted: str, exported: Mapping[str, str]) -> str:
    """Replace the longest prefix that a stratlogic module re-exports (``stratlogic.db.sa`` -> ``sqlalchemy``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        if prefix in exported:
            return ".".join([exported[prefix], *parts[cut:]])
    return dotted


def resolve(node: ast.expr, bindings: Mapping[str, str], exported: Mapping[str, str]) -> str | None:
    """The dotted name an expression refers to through this module's imports, or None when not imported."""
    parts = _dotted(node)
    if not parts or parts[0] not in bindings:
        return None
    return expand(".".join([bindings[parts[0]], *parts[1:]]), exported)


def _walk(tree: ast.Module) -> Iterator[ast.AST]:
    yield from ast.walk(tree)


def exports(path: str, tree: ast.Module, exported: Mapping[str, str]) -> dict[str, str]:
    """What a stratlogic module binds at its top level to something of sqlalchemy's (for re-exports)."""
    module = module_name(path)
    bindings = _import_bindings(tree.body, module, path.endswith("__init__.py"))
    for node in tree.body:  # ``sa_select = select``
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target = resolve(node.value, bindings, exported)
            if target:
                bindings[node.targets[0].id] = target
    found = {}
    for name, target in bindings.items():
        full = expand(target, exported)
        if full == "sqlalchemy" or full.startswith("sqlalchemy."):
            found[f"{module}.{name}"] = full
    return found


def _sql_text(node: ast.expr | None) -> bool:
    """A literal that reads as a statement: a string, an f-string, ``"..." + x``, ``"...".format(...)``."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(STATEMENT.match(node.value))
    if isinstance(node, ast.JoinedStr):
        return bool(node.values) and _sql_text(node.values[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return _sql_text(node.left)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format",
                                                                                                 "replace"):
        return _sql_text(node.func.value)
    return False


def _sql_names(tree: ast.Module) -> set[str]:
    """Names assigned statements anywhere in the module, or loop variables over a tuple/list of them."""
    names: set[str] = set()
    collections: set[str] = set()
    for node in _walk(tree):
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                if _sql_text(node.value):
                    names.add(target.id)
                elif isinstance(node.value, ast.Tuple | ast.List) and any(map(_sql_text, node.value.elts)):
                    collections.add(target.id)
    for node in _walk(tree):
        if (isinstance(node, ast.For) and isinstance(node.iter, ast.Name) and node.iter.id in collections
                and isinstance(node.target, ast.Name)):
            names.add(node.target.id)
    return names


def _runs_sql(argument: ast.expr, sql_names: set[str]) -> bool:
    if _sql_text(argument):
        return True
    if isinstance(argument, ast.Name):
        return argument.id in sql_names
    if isinstance(argument, ast.Call):  # text(...) is caught as a construct; QUERY.format(...) here
        func = argument.func
        return (isinstance(func, ast.Attribute) and func.attr in ("format", "replace")
                and _runs_sql(func.value, sql_names))
    return False


def violations_in(source: str, path: str, exported: Mapping[str, str] | None = None) -> list[Violation]:
    """Every SQL construct called, and every statement text run, in one module's source."""
    tree = ast.parse(source, path)
    exported = exported or {}
    bindings = _import_bindings(_walk(tree), module_name(path), path.endswith("__init__.py"))
    sql_names = _sql_names(tree)
    found: list[Violation] = []
    for node in _walk(tree):
        if not isinstance(node, ast.Call):
            continue
        target = resolve(node.func, bindings, exported)
        name = ".".join(_dotted(node.func) or ["?"])
        if target and CONSTRUCT.fullmatch(target):
            found.append(Violation(path, node.lineno, name, target))
        elif (isinstance(node.func, ast.Attribute) and node.func.attr in RUNS_TEXT and node.args
              and _runs_sql(node.args[0], sql_names)):
            found.append(Violation(path, node.lineno, name, RAW_SQL))
    return sorted(found, key=lambda v: (v.path, v.line))


def project_sources() -> dict[str, str]:
    """Every scanned module's source by its path relative to the project root."""
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
            for top in SCANNED for path in sorted((ROOT / top).rglob("*.py"))}


def project_exports(sources: Mapping[str, str]) -> dict[str, str]:
    """Re-exports of sqlalchemy names by stratlogic modules, followed through chains of re-exports."""
    trees = {path: ast.parse(source, path) for path, source in sources.items()}
    exported: dict[str, str] = {}
    while True:  # each pass can follow one more hop of ``from stratlogic.x import y``
        found: dict[str, str] = {}
        for path, tree in trees.items():
            found |= exports(path, tree, exported)
        if found == exported:
            return exported
        exported = found


def project_violations() -> list[Violation]:
    """Every violation in the project, outside the allowed parts."""
    sources = project_sources()
    exported = project_exports(sources)
    return [v for path, source in sources.items() if not path.startswith(ALLOWED)
            for v in violations_in(source, path, exported)]


def test_sql_is_built_and_run_only_in_repositories_analytics_models_db_and_migrations() -> None:
    found = project_violations()
    assert not found, "SQL outside repositories/, analytics/, models/, db/, migrations/:\n" + "\n".join(
        map(str, found))


# --- the test's own resolution, on synthetic sources ------------------------------------------------------

FLAGGED = [
    ("from sqlalchemy import select\nselect(1)\n", "2: select (resolved as sqlalchemy.select)"),
    ("import sqlalchemy as sa\nsa.select(1)\n", "2: sa.select (resolved as sqlalchemy.select)"),
    ("import sqlalchemy\nsqlalchemy.insert(t)\n", "2: sqlalchemy.insert (resolved as sqlalchemy.insert)"),
    ("import sqlalchemy.orm\nsqlalchemy.update(t)\n", "2: sqlalchemy.update (resolved as sqlalchemy.update)"),
    ("from sqlalchemy.sql import text\ntext('x')\n", "2: text (resolved as sqlalchemy.sql.text)"),
    ("from sqlalchemy import delete as sa_delete\nsa_delete(t)\n", "2: sa_delete (resolved as sqlalchemy.delete)"),
    ("from sqlalchemy import sql\nsql.expression.select(1)\n",
     "2: sql.expression.select (resolved as sqlalchemy.sql.expression.select)"),
    ("from sqlalchemy.dialects import postgresql as pg\npg.insert(t)\n",
     "2: pg.insert (resolved as sqlalchemy.dialects.postgresql.insert)"),
    ("def f():\n    from sqlalchemy import update\n    return update(t)\n",
     "3: update (resolved as sqlalchemy.update)"),
    ("from sqlalchemy import select\nq = (\n    select(t).where(t.c.id == 1))\n",
     "3: select (resolved as sqlalchemy.select)"),
]


@pytest.mark.parametrize(("source", "expected"), FLAGGED, ids=[case[1].split(" (")[0] for case in FLAGGED])
def test_each_import_form_of_a_construct_is_flagged_with_its_resolution(source: str, expected: str) -> None:
    assert [str(v) for v in violations_in(source, "stratlogic/example.py")] == [f"stratlogic/example.py:{expected}"]


NOT_FLAGGED = [
    "import hashlib\nhash = hashlib.sha256()\nhash.update(b'x')\n",
    "def f(store):\n    store.delete('key')\n",
    "from stratlogic.repositories import JobRepository\nJobRepository(uow).update(1, {})\n",
    "from sqlalchemy.orm import Session\nSession.delete(session, row)\n",
    "from sqlalchemy import select\nselect\n",  # named, not called
    "text = 'a'\ntext.upper()\n",
    "import sqlalchemy as sa\nsa.func.count()\n",
    "cursor.execute(query)\n",  # not known to be a statement
    "log.info('select a report')\n",
]


@pytest.mark.parametrize("source", NOT_FLAGGED)
def test_methods_of_other_objects_and_unknown_text_are_not_flagged(source: str) -> None:
    assert violations_in(source, "stratlogic/example.py") == []


RAW = [
    ("cursor.execute('SELECT 1')\n", "cursor.execute"),
    ("QUERY = 'DELETE FROM t WHERE id = {id}'\nconnection.execute(QUERY.format(id=1))\n", "connection.execute"),
    ("def f(low):\n    statement.set_sql_query(f'select * from t where id >= {low}')\n", "statement.set_sql_query"),
    ("SESSION = ('SET jit = off', 'SET x = 1')\nfor s in SESSION:\n    c.execute(s)\n", "c.execute"),
    ("conn.exec_driver_sql('update t set a = 1')\n", "conn.exec_driver_sql"),
]


@pytest.mark.parametrize(("source", "name"), RAW, ids=[case[1] for case in RAW])
def test_statement_text_run_on_a_driver_is_flagged(source: str, name: str) -> None:
    found = violations_in(source, "stratlogic/example.py")
    assert [str(v) for v in found] == [f"stratlogic/example.py:{found[0].line}: {name} runs {RAW_SQL}"]
    assert found[0].line == source.count("\n", 0, source.index(name)) + 1


def test_a_construct_re_exported_by_another_stratlogic_module_is_followed() -> None:
    sources = {"stratlogic/db/sqlhelp.py": "from sqlalchemy import select as pick\nimport sqlalchemy as sa\n",
               "stratlogic/db/__init__.py": "from stratlogic.db.sqlhelp import pick\n"}
    exported = project_exports(sources)
    assert exported["stratlogic.db.pick"] == "sqlalchemy.select"
    found = violations_in("from stratlogic.db import pick\nfrom stratlogic.db import sqlhelp\n"
                          "pick(1)\nsqlhelp.sa.delete(t)\n", "stratlogic/x.py", exported)
    assert [str(v) for v in found] == ["stratlogic/x.py:3: pick (resolved as sqlalchemy.select)",
                                       "stratlogic/x.py:4: sqlhelp.sa.delete (resolved as sqlalchemy.delete)"]


def test_relative_imports_are_resolved_against_the_module() -> None:
    exported = {"stratlogic.db.pick": "sqlalchemy.select"}
    found = violations_in("from ..db import pick\npick(1)\n", "stratlogic/audit/x.py", exported)
    assert [str(v) for v in found] == ["stratlogic/audit/x.py:2: pick (resolved as sqlalchemy.select)"]


def test_the_failure_lists_path_line_and_resolution() -> None:
    found = violations_in("import sqlalchemy as sa\n\n\nsa.delete(t)\n", "stratlogic/audit/prune.py")
    assert str(found[0]) == "stratlogic/audit/prune.py:4: sa.delete (resolved as sqlalchemy.delete)"

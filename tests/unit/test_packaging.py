"""The project's own files agree with each other: dependencies, generated docs, CLI docs, layers."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main

from stratlogic.cli import app
from stratlogic.schema_docs import render_schema

ROOT = Path(__file__).resolve().parents[2]
CONDA_NAMES = {"python-duckdb": "duckdb"}  # conda-forge package name -> PyPI name


def _requirement(spec: str) -> tuple[str, str]:
    match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", spec.strip())
    assert match, spec
    return match.group(1).lower(), match.group(3).replace(" ", "")


def test_environment_yml_lists_the_same_runtime_dependencies_as_pyproject() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wanted = dict(_requirement(spec) for spec in pyproject["project"]["dependencies"])
    text = (ROOT / "environment.yml").read_text()
    block = text.split("\ndependencies:\n", 1)[1]
    listed = [line.strip()[2:] for line in block.splitlines() if re.match(r"^\s+- [a-z]", line)]
    conda = dict(_requirement(spec) for spec in listed if not spec.startswith(("python>", "python=", "pip")))
    conda = {CONDA_NAMES.get(name, name): version for name, version in conda.items()}
    assert conda == wanted


def test_committed_schema_doc_matches_the_models() -> None:
    committed = (ROOT / "docs/schema.md").read_text()
    assert committed == render_schema(), "docs/schema.md is stale: run `stratlogic docs schema`"


def _commands(group: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Every leaf command of the CLI as ("db upgrade", command); groups are recognised by their .commands."""
    found: list[tuple[str, Any]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix}{name}"
        if hasattr(command, "commands"):
            found += _commands(command, path + " ")
        else:
            found.append((path, command))
    return found


COMMANDS = _commands(typer.main.get_command(app))


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_help_and_is_documented(path: str, command: Any) -> None:
    assert (command.help or "").strip(), f"`stratlogic {path}` has no help text"
    assert f"stratlogic {path}" in (ROOT / "docs/operations.md").read_text(), \
        f"`stratlogic {path}` is missing from docs/operations.md"


LAYERS = ["config", "errors", "logs", "db", "models", "repositories", "security", "audit", "jobs",
          "storage", "seed", "analytics", "reports", "schema_docs", "widgets", "cli"]
RANK = {"config": 0, "errors": 0, "logs": 0, "db": 1, "models": 2, "repositories": 3, "security": 3,
        "audit": 3, "jobs": 4, "storage": 4, "seed": 5, "analytics": 5, "reports": 6, "schema_docs": 6,
        "widgets": 6, "cli": 7}
#: db.migrate needs the models' metadata (Alembic's target_metadata) and health asks migrate for the head.
ALLOWED_UPWARD = {("db", "models")}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stratlogic."):
            names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("stratlogic.")}
    return names


def test_dependencies_point_down_the_layers() -> None:
    wrong = []
    for path in sorted((ROOT / "stratlogic").rglob("*.py")):
        parts = path.relative_to(ROOT / "stratlogic").with_suffix("").parts
        layer = parts[0] if parts[0] != "__init__" else "cli"
        if layer not in RANK:
            continue
        for target in _imports(path):
            if target in RANK and RANK[target] > RANK[layer] and (layer, target) not in ALLOWED_UPWARD:
                wrong.append(f"{path.relative_to(ROOT)} imports stratlogic.{target}")
    assert wrong == []


def test_library_code_never_prints() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "stratlogic").rglob("*.py")
                 if "cli" not in p.parts and re.search(r"^\s*print\(", p.read_text(), re.M)]
    assert offenders == []

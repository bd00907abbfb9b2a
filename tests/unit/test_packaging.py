"""The project's own files agree with each other: dependencies, generated docs, CLI docs (layers: test_layers.py)."""

from __future__ import annotations

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
    """Every leaf command of the CLI as ("db upgrade", command), loading the lazy groups' commands (the root
    lists its commands from a registry and imports each only when asked for it)."""
    ctx = typer.Context(group)
    found: list[tuple[str, Any]] = []
    for name in sorted(group.list_commands(ctx)):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        if hasattr(command, "list_commands"):
            found += _commands(command, path + " ")
        else:
            found.append((path, command))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_command_enumeration_reaches_every_registered_command() -> None:
    from stratlogic.cli import COMMANDS as REGISTRY

    reached = {path.split()[0] for path, _ in COMMANDS}
    assert reached == set(REGISTRY) and len(COMMANDS) > len(REGISTRY)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[path for path, _ in COMMANDS])
def test_every_command_has_help_and_is_documented(path: str, command: Any) -> None:
    assert (command.help or "").strip(), f"`stratlogic {path}` has no help text"
    assert f"stratlogic {path}" in (ROOT / "docs/operations.md").read_text(), \
        f"`stratlogic {path}` is missing from docs/operations.md"


def test_library_code_never_prints() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "stratlogic").rglob("*.py")
                 if "cli" not in p.parts and re.search(r"^\s*print\(", p.read_text(), re.M)]
    assert offenders == []

"""docs/architecture.md lists every service entry point and, for each command, the entry points it calls:
both lists are checked against the code, so "where does X happen" always has a true answer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from stratlogic.services._base import all_entries
from tests.unit.test_packaging import COMMANDS

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs/architecture.md").read_text()
NAME = re.compile(r"`([a-z_]+\.[a-z_]+)`( \*w\*)?")


def _section(title: str) -> str:
    body = DOC.split(f"### {title}\n", 1)[1]
    return body.split("\n#", 1)[0]


def _listed() -> dict[str, bool]:
    """Entry points named in the list, with whether the list marks them as writing."""
    found: dict[str, bool] = {}
    for line in _section("Every public entry point").splitlines():
        if line.startswith("| `services/"):
            for name, writes in NAME.findall(line.split("|")[2]):
                found[name] = bool(writes)
    return found


def _commands() -> dict[str, list[str]]:
    """Each command of the second table and the entry points it names."""
    found: dict[str, list[str]] = {}
    for line in _section("Where each command happens").splitlines():
        match = re.match(r"\| `stratlogic ([a-z -]+)` \| (.*) \|$", line)
        if match:
            found[match.group(1)] = [name for name, _ in NAME.findall(match.group(2))]
    return found


def test_the_list_names_every_entry_point_and_no_other_with_its_kind() -> None:
    registered = {name: entry.writes for name, entry in all_entries().items()}
    listed = _listed()
    assert sorted(set(registered) - set(listed)) == [], "entry points missing from docs/architecture.md"
    assert sorted(set(listed) - set(registered)) == [], "docs/architecture.md lists entry points that do not exist"
    assert {name for name, writes in listed.items() if writes} == {n for n, w in registered.items() if w}


def test_every_command_is_mapped_to_entry_points_its_module_imports() -> None:
    mapped = _commands()
    leaves = {path for path, _ in COMMANDS} | {"backup"}  # `backup --out` runs the group itself
    assert sorted(leaves - set(mapped)) == [], "commands missing from docs/architecture.md"
    assert sorted(set(mapped) - leaves) == [], "docs/architecture.md maps commands that do not exist"
    entries = all_entries()
    for command, names in mapped.items():
        assert names, f"`stratlogic {command}` names no entry point"
        module = _cli_module(command)
        imported = _imported_services(module)
        for name in names:
            assert name in entries, f"`stratlogic {command}`: no entry point {name}"
            service = entries[name].function.__module__
            assert service in imported, f"{module} does not import {service} for `stratlogic {command}`"


def _cli_module(command: str) -> Path:
    from stratlogic.cli import COMMANDS as REGISTRY

    target = REGISTRY[command.split()[0]]
    module = (target[0] if isinstance(target, tuple) else str(target)).split(":")[0]
    return ROOT / (module.replace(".", "/") + ".py")


def _imported_services(path: Path) -> set[str]:
    """The service modules a CLI module imports, in any form (``from stratlogic.services import jobs``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module == "stratlogic.services":
            found |= {f"stratlogic.services.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("stratlogic.services."):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("stratlogic.services.")}
    return found

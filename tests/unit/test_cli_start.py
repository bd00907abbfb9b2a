"""The CLI starts light and keeps one Database per command.

Speed is checked through a deterministic proxy, never a clock: after ``stratlogic --help`` and the help of
every command, none of the heavy libraries (SQLAlchemy, Alembic, pandas, pyarrow, DuckDB, papermill) is
imported. A fresh interpreter (a subprocess) is the only honest place to look at ``sys.modules``.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from stratlogic.cli import COMMANDS, _common, app, load
from stratlogic.config import Settings, get_settings
from tests.cli_helpers import invoke

HEAVY = ("sqlalchemy", "alembic", "pandas", "pyarrow", "duckdb", "papermill")

#: Runs in a fresh interpreter: the root help, then the help of every group and leaf command (found by
#: walking the lazy groups), then prints what was imported as JSON.
_PROBE = """
import json, sys
from typer.testing import CliRunner
import typer.main
from stratlogic.cli import app

runner = CliRunner()
def helped(args):
    result = runner.invoke(app, [*args, "--help"])
    return {"args": args, "exit_code": result.exit_code, "output": result.output}

root = helped([])
after_root = sorted(sys.modules)
group = typer.main.get_command(app)
ctx = typer.Context(group)
paths = []
def walk(command, path):
    paths.append(path)
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), [*path, name])
for name in group.list_commands(ctx):
    walk(group.get_command(ctx, name), [name])
results = [helped(path) for path in paths]
print(json.dumps({"root": root, "after_root": after_root, "helps": results, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    """What a fresh interpreter imported for the root help, and after the help of every command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


def _roots(modules: object) -> set[str]:
    assert isinstance(modules, list)
    return {name.split(".")[0] for name in modules}


def test_root_help_imports_no_command_module(probe: dict[str, object]) -> None:
    root = probe["root"]
    assert isinstance(root, dict) and root["exit_code"] == 0, root
    listed = [line.split()[1] for line in root["output"].splitlines() if line.startswith("│ ") and
              len(line.split()) > 1 and line.split()[1] in COMMANDS]
    assert listed == list(COMMANDS)  # every command, from the registry, in its order
    after_root = probe["after_root"]
    assert isinstance(after_root, list)
    loaded = sorted(m for m in after_root if m.startswith("stratlogic.cli.") and not m.startswith("stratlogic.cli._"))
    assert loaded == [], f"--help imported command modules: {loaded}"
    assert _roots(after_root) & set(HEAVY) == set()


def test_help_of_every_command_imports_no_heavy_library(probe: dict[str, object]) -> None:
    helps = probe["helps"]
    assert isinstance(helps, list)
    walked = {" ".join(h["args"]) for h in helps}
    assert set(COMMANDS) <= walked and "jobs list" in walked and "export audit" in walked
    failed = [h for h in helps if h["exit_code"] != 0]
    assert failed == []
    heavy = sorted(_roots(probe["modules"]) & set(HEAVY))
    assert heavy == [], f"the help of some command imported {heavy}: a command module imports it at its top"


def _first_paragraph(text: str | None) -> str:
    """What a group's help shows for a command: its help's first paragraph on one line."""
    return " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("name", list(COMMANDS))
def test_registry_help_is_the_commands_own_first_line(name: str) -> None:
    assert COMMANDS[name][1] == _first_paragraph(load(name).help), \
        f"cli/__init__.py COMMANDS[{name!r}] drifted from the command's help"


def test_every_registry_target_is_module_colon_attribute() -> None:
    for name, (target, _) in COMMANDS.items():
        module, _, attribute = target.partition(":")
        assert module.startswith("stratlogic.cli.") and attribute.isidentifier(), name


def test_unknown_command_is_refused_with_a_suggestion() -> None:
    result = invoke({}, "jbos", "list")
    assert result.exit_code == 2
    assert "No such command 'jbos'" in result.output and "'jobs'" in result.output


def test_group_lists_registry_names_without_loading() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    assert group.list_commands(typer.Context(group)) == list(COMMANDS)


# --- one Database per command -------------------------------------------------------------------------


@pytest.fixture
def clean() -> Iterator[None]:
    """No Database cached before or after (another test's must not leak into this one)."""
    _common.close()
    get_settings.cache_clear()
    yield
    _common.close()
    get_settings.cache_clear()


def _use(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    monkeypatch.setenv("STRATLOGIC_HOME", str(home))
    monkeypatch.setenv("STRATLOGIC_DATABASE_URL", f"sqlite:///{home / 'one.db'}")
    get_settings.cache_clear()


@pytest.mark.usefixtures("clean")
def test_database_is_built_once_per_settings_and_disposed_on_close(monkeypatch: pytest.MonkeyPatch,
                                                                    tmp_path: Path) -> None:
    _use(monkeypatch, tmp_path / "a")
    first = _common.database()
    assert _common.database() is first
    _use(monkeypatch, tmp_path / "b")  # another environment (an in-process test invocation): its own
    second = _common.database()
    assert second is not first and str(second.engine.url).endswith("b/one.db")
    pools = (first.engine.pool, second.engine.pool)
    _common.close()
    assert (first.engine.pool, second.engine.pool) != pools  # Engine.dispose() replaces the pool
    assert first.engine.pool is not pools[0] and second.engine.pool is not pools[1]
    _use(monkeypatch, tmp_path / "a")
    assert _common.database() is not first  # closed: the next command builds its own


@pytest.mark.usefixtures("clean")
def test_settings_differing_only_in_a_secret_get_their_own_database(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    _use(monkeypatch, tmp_path)
    monkeypatch.setenv("STRATLOGIC_AUDIT_KEY", "first-audit-key-0123456789abcdef")
    get_settings.cache_clear()
    first = _common.database()
    monkeypatch.setenv("STRATLOGIC_AUDIT_KEY", "other-audit-key-0123456789abcdef")
    get_settings.cache_clear()
    assert _common.database() is not first  # a masked dump of both settings reads the same


@pytest.mark.sqlite
@pytest.mark.parametrize("backend", ["sqlite"])
@pytest.mark.usefixtures("clean")
def test_a_command_disposes_its_database_and_records_the_cli_origin(settings: Settings, tmp_path: Path) -> None:
    env = {"STRATLOGIC_HOME": str(tmp_path), "STRATLOGIC_DATABASE_URL": settings.database_url,
           "STRATLOGIC_ARTIFACT_STORE": settings.artifact_store}
    result = invoke(env, "config", "set", "scraper.user_agent", "probe/1.0")
    assert result.exit_code == 0, result.output
    assert _common._databases == [], "the command's Database outlived it"
    shown = invoke(env, "audit", "list", "--action", "config.set", "--json")
    assert shown.exit_code == 0, shown.output
    rows = [json.loads(line) for line in shown.stdout.splitlines() if line.strip()]
    assert rows, shown.output
    details = rows[-1]["details"]
    details = json.loads(details) if isinstance(details, str) else details
    assert set(details["cli"]) == {"os_user", "host"}, details


def test_a_subcommand_help_does_not_build_typer_validators() -> None:
    """A flag not given is False, not None, at every group level (cli.QuickGroup): no pydantic for ``--help``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRATLOGIC_")}
    script = ("import sys\nfrom typer.testing import CliRunner\nfrom stratlogic.cli import app\n"
              "result = CliRunner().invoke(app, ['jobs', 'list', '--help'])\n"
              "print(result.exit_code, 'pydantic' in sys.modules, 'typer._adapters' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["0", "False", "False"]


def test_every_command_module_is_registered() -> None:
    """A new command module (cli/NAME.py) that is not in the registry would never be reachable."""
    folder = Path(__file__).resolve().parents[2] / "stratlogic" / "cli"
    modules = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    registered = {target.partition(":")[0].rpartition(".")[2] for target, _ in COMMANDS.values()}
    assert modules == registered

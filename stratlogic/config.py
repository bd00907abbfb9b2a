"""Settings from the environment (prefix ``STRATLOGIC_``) and an optional ``.env`` file.

Relative paths resolve against ``STRATLOGIC_HOME`` so that a notebook kernel started in ``notebooks/`` and
the CLI at the repository root see the same database and artifact folder.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote_plus

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stratlogic.errors import ConfigError

if TYPE_CHECKING:  # SQLAlchemy is imported where a URL is parsed: the settings module stays light to import
    from sqlalchemy.engine import URL

ENV_PREFIX = "STRATLOGIC_"
_DRIVERS = {"sqlite": "sqlite", "sqlite+pysqlite": "sqlite", "postgresql": "postgresql+psycopg",
            "postgresql+psycopg": "postgresql+psycopg"}
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_MASK = "***"
#: URL query parameters harmless to show; every other value is masked, since libpq also takes ``password``,
#: ``sslpassword``, ``passfile``, … in the query and drivers add their own.
_SHOWN_QUERY = frozenset({"sslmode", "connect_timeout", "application_name", "target_session_attrs", "gssencmode",
                          "channel_binding", "client_encoding", "load_balance_hosts"})
_SECRET_QUERY = re.compile(r"pass|secret|token|key|cred", re.IGNORECASE)
_UNPARSABLE_URL = ("not a database URL (expected e.g. sqlite:///var/stratlogic.db); if the password holds "
                   "'@', ':', '/' or '?', percent-encode them (%40, %3A, %2F, %3F)")


def display_url(url: URL | str) -> str:
    """A database URL fit for people and logs: the password and every query value but harmless ones masked."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url) if isinstance(url, str) else url
    shown = parsed.set(query={}).render_as_string(hide_password=True)
    pairs = [f"{quote_plus(name)}={quote_plus(value) if name.lower() in _SHOWN_QUERY else _MASK}"
             for name, values in parsed.query.items()
             for value in ((values,) if isinstance(values, str) else values)]
    return f"{shown}?{'&'.join(pairs)}" if pairs else shown


def secret_query_values(url: URL) -> list[str]:
    """The query values that look secret by name (``password``, ``sslpassword``, …), for the log redaction."""
    return [value for name, values in url.query.items() if _SECRET_QUERY.search(name)
            for value in ((values,) if isinstance(values, str) else values)]


DEFAULT_SQLITE_FILE = Path("var") / "stratlogic.db"


def database_slug(url: URL) -> str:
    """A short name for a database, safe in file names and stable for its URL (password aside).

    The database's name (a SQLite file's stem) and 8 hex digits of the sha256 of its masked URL, e.g.
    ``stratlogic-3fa2c1de``: readable, and two databases of the same name on different hosts differ.
    """
    name = Path(str(url.database or "")).stem if url.drivername.startswith("sqlite") else str(url.database or "")
    readable = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "db"
    return f"{readable}-{hashlib.sha256(display_url(url).encode()).hexdigest()[:8]}"


def default_home() -> Path:
    """Return ``STRATLOGIC_HOME``, else the checkout root when running from one, else the working dir."""
    explicit = os.environ.get(f"{ENV_PREFIX}HOME")
    if explicit:
        return Path(explicit).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "alembic.ini").is_file() and (checkout / "pyproject.toml").is_file():
        return checkout
    return Path.cwd().resolve()


class Settings(BaseSettings):
    """Everything the package can be configured with; see the README's configuration table."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", validate_default=True)

    home: Path = Field(default_factory=default_home)
    database_url: str = Field(default="sqlite:///var/stratlogic.db", repr=False)
    artifact_store: str = "file:var/artifacts"
    s3_endpoint: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_secure: bool = True
    s3_create_bucket: bool = True
    s3_part_size_mb: int = Field(default=8, ge=5, le=5120)
    admin_password: SecretStr | None = None
    audit_key: SecretStr | None = None
    token: SecretStr | None = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    pool_size: int = Field(default=5, ge=1, le=1000)
    max_overflow: int = Field(default=10, ge=0, le=1000)
    pool_timeout: float = Field(default=30.0, gt=0)
    pool_recycle: int = Field(default=1800, ge=-1)
    pool_ping_after: float = Field(default=1.0, ge=0)
    connect_timeout: int = Field(default=5, ge=1, le=600)
    statement_timeout_ms: int = Field(default=60_000, ge=0)
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    migration_lock_timeout_ms: int = Field(default=5_000, ge=1)
    migration_statement_timeout_ms: int = Field(default=60_000, ge=0)

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except (ArgumentError, ValueError, TypeError):  # their messages quote the URL, password included
            raise ValueError(_UNPARSABLE_URL) from None
        if "@" in (url.host or ""):  # "u:p@ss@host": the part of the password after '@' would show as the host
            raise ValueError(_UNPARSABLE_URL)
        if url.drivername not in _DRIVERS:
            raise ValueError(
                f"unsupported database scheme {url.drivername!r}; use one of {', '.join(sorted(_DRIVERS))}"
            )
        if _DRIVERS[url.drivername] == "sqlite" and url.database in (None, "", ":memory:"):
            raise ValueError("in-memory SQLite is not supported: give a file, e.g. sqlite:///var/stratlogic.db")
        return value

    @field_validator("artifact_store")
    @classmethod
    def _known_store(cls, value: str) -> str:
        if value.startswith("file:") and len(value) > len("file:"):
            return value
        if value.startswith("s3://"):
            bucket = value.removeprefix("s3://").split("/", 1)[0]
            if _BUCKET.match(bucket):
                return value
            raise ValueError(f"{bucket!r} is not a valid bucket name (3-63 of a-z, 0-9, '.', '-')")
        raise ValueError(f"unsupported artifact store {value!r}; use file:PATH or s3://BUCKET")

    @model_validator(mode="after")
    def _s3_needs_endpoint(self) -> Settings:
        if self.artifact_store.startswith("s3://") and not self.s3_endpoint:
            raise ValueError("s3_endpoint: required when artifact_store is s3://…")
        if (self.s3_access_key is None) != (self.s3_secret_key is None):
            raise ValueError("s3_secret_key: set both S3 keys or neither (anonymous access)")
        return self

    @model_validator(mode="after")
    def _store_per_database(self) -> Settings:
        """Without STRATLOGIC_ARTIFACT_STORE, a database other than the default SQLite file gets a folder of its
        own, ``file:var/artifacts-SLUG`` (see ``database_slug``): two databases never share one by default."""
        default_file = self.backend == "sqlite" and Path(str(self.url.database)) == self.home / DEFAULT_SQLITE_FILE
        if "artifact_store" not in self.model_fields_set and not default_file:
            self.__dict__["artifact_store"] = f"file:var/artifacts-{database_slug(self.url)}"
        return self

    @property
    def url(self) -> URL:
        """The database URL with the psycopg driver and relative SQLite paths made absolute."""
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        url = url.set(drivername=_DRIVERS[url.drivername])
        if url.drivername == "sqlite" and url.database and not Path(url.database).is_absolute():
            url = url.set(database=str(self.home / url.database))
        return url

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """Which database engine the URL points at."""
        return "sqlite" if self.url.drivername == "sqlite" else "postgresql"

    @property
    def safe_url(self) -> str:
        """The database URL with any password (also one in the query) masked, for messages and logs."""
        return display_url(self.url)

    @property
    def artifact_path(self) -> Path | None:
        """The local artifact folder for a ``file:`` store, absolute; None for S3."""
        if not self.artifact_store.startswith("file:"):
            return None
        path = Path(self.artifact_store.removeprefix("file:")).expanduser()
        return path if path.is_absolute() else self.home / path


_SECRET_FIELDS = {"database_url", "s3_access_key", "s3_secret_key", "admin_password", "audit_key", "token"}


def _explain(error: ValidationError) -> ConfigError:
    """Turn pydantic's report into one error naming the first bad variable and, unless secret, its value."""
    first = error.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    message = first["msg"].removeprefix("Value error, ")
    if not field and ": " in message:
        field, message = message.split(": ", 1)
    if field and field not in _SECRET_FIELDS and isinstance(first.get("input"), str | int | float):
        message = f"{message} (got {first['input']!r})"
    return ConfigError(f"{ENV_PREFIX}{field.upper()}" if field else ENV_PREFIX + "*", message)


#: Variables with the prefix that are not settings but are read elsewhere, so never reported as strays.
#: A new one is added here with what reads it.
OTHER_VARIABLES: dict[str, str] = {
    "STRATLOGIC_TEST_PG": "the test suite's PostgreSQL server (tests/conftest.py)",
    "STRATLOGIC_BENCH_PG": "the benchmarks' PostgreSQL server (benchmarks/_common.py)",
    "STRATLOGIC_NOTEBOOKS": "where the report notebooks live (stratlogic/reports)",
    "STRATLOGIC_WIDGETS": "forces notebook widgets on or off (stratlogic/reports)",
}
#: Whole families of such variables: the test suite's and the benchmarks' own (``STRATLOGIC_BENCH_1M``, …).
OTHER_PREFIXES = (f"{ENV_PREFIX}TEST_", f"{ENV_PREFIX}BENCH_")
_ENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=")


def setting_names() -> list[str]:
    """Every environment variable that is a setting (``STRATLOGIC_DATABASE_URL``, …)."""
    return sorted(f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields)


def stray_variables(environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> list[str]:
    """Warnings for ``STRATLOGIC_*`` names, in the environment or the ``.env`` file, that are no setting
    (a typo such as ``STRATLOGIC_DATABSE_URL`` is otherwise ignored without a word), each with the closest
    setting as a suggestion; and for settings that are accepted but not read yet (``STRATLOGIC_TOKEN``)."""
    names = {name: "environment" for name in (os.environ if environ is None else environ)}
    if env_file is not None and env_file.is_file():
        for line in env_file.read_text(errors="replace").splitlines():
            if match := _ENV_LINE.match(line):
                names.setdefault(match.group(1), str(env_file))
    known = setting_names()
    warnings = []
    for name, source in sorted(names.items()):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in OTHER_VARIABLES or upper.startswith(OTHER_PREFIXES):
            continue
        if upper == f"{ENV_PREFIX}TOKEN":
            warnings.append(f"{name} ({source}) is not read yet: API tokens come later, and changes are "
                            "recorded with the OS user and host, unauthenticated")
        elif upper not in known:
            fields = [known_name.removeprefix(ENV_PREFIX) for known_name in known]  # the prefix would match all
            close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), fields, n=1, cutoff=0.7)
            hint = f"; did you mean {ENV_PREFIX}{close[0]}?" if close else "; the README lists the settings"
            warnings.append(f"{name} ({source}) is not a setting and is ignored{hint}")
    return warnings


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment and ``$STRATLOGIC_HOME/.env``; raise ConfigError on a bad value."""
    home = Path(str(overrides["home"])) if "home" in overrides else default_home()
    try:
        factory: Any = Settings  # pydantic-settings' private init args (_env_file) are not in its signature
        return factory(_env_file=home / ".env", **overrides)  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise _explain(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return load_settings()


__all__ = ["DEFAULT_SQLITE_FILE", "OTHER_PREFIXES", "OTHER_VARIABLES", "Settings", "database_slug", "default_home",
           "display_url", "get_settings", "load_settings", "secret_query_values", "setting_names", "stray_variables"]

"""Alembic environment: the URL comes from the package settings, never from alembic.ini.

A connection (or engine) handed in through ``config.attributes["connection"]`` is used as is; this is
Alembic's documented recipe, and the package's own API (stratlogic.db.migrate) and tests rely on it.
"""

from alembic import context
from sqlalchemy import Connection, Engine

from stratlogic.config import Settings, load_settings
from stratlogic.db.migrate import finish_connection, migration_engine, migration_options, prepare_connection

config = context.config


def _settings() -> Settings:
    """Settings handed in by stratlogic.db.migrate, else read from the environment (the alembic CLI)."""
    handed = config.attributes.get("settings")
    return handed if isinstance(handed, Settings) else load_settings()


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (``alembic upgrade head --sql``)."""
    url = _settings().url
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"},
                      **migration_options(url.get_backend_name()))
    with context.begin_transaction():
        if url.get_backend_name() == "postgresql":
            context.execute("SET lock_timeout = '5s'")
            context.execute("SET statement_timeout = '60s'")
        context.run_migrations()


def _run(connection: Connection) -> None:
    # Edit with care: SQLite table rebuilds must run with foreign keys off (see prepare_connection).
    prepare_connection(connection)
    context.configure(connection=connection, **migration_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()
    finish_connection(connection)


def run_migrations_online() -> None:
    """Run against a live database: the handed-in connection, or a NullPool engine from settings."""
    handed = config.attributes.get("connection")
    if isinstance(handed, Connection):
        _run(handed)
        return
    engine = handed if isinstance(handed, Engine) else migration_engine(_settings())
    with engine.connect() as connection:
        _run(connection)
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

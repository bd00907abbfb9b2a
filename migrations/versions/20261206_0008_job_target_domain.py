"""job target domain: scraping_jobs.target_domain, backfilled from target_url, indexed with created_at

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 05:00:00+00:00

Almost every report filters or groups jobs by the site they target. Parsing URLs in SQL on two engines
for every query is slow and easy to get subtly different; a column filled on write (the model's default,
``stratlogic.models.job.domain_of``) is read like any other. The rule, frozen here: the text after the
first ``://`` up to ``/``, ``?`` or ``#``, after the last ``@``, without a ``:port`` (an IPv6 literal
loses its brackets), ASCII letters lower-cased, trailing dots removed; empty means NULL.

- PostgreSQL: the column is added (nullable, no default: no table rewrite), then backfilled in id
  batches outside the migration's transaction, each batch its own short transaction (row locks only,
  each statement well within the 60 s statement timeout), then the index is built CONCURRENTLY.
  Offline SQL (``--sql``) does the backfill as a DO block that commits after each batch.
- SQLite: the same rule as a SQL function registered on the migration's connection (SQLite has no
  regular expressions); offline SQL cannot carry it, so offline SQLite output is refused.
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_scraping_jobs_target_domain_created_at"
BATCH = 50_000
_UPPER, _LOWER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"
#: The rule in PostgreSQL's SQL; tests check it against domain_of on awkward URLs.
PG_DOMAIN = (
    "NULLIF(rtrim(translate(CASE WHEN left(h, 1) = '[' THEN substring(h from '^\\[([^]]*)') "
    f"ELSE split_part(h, ':', 1) END, '{_UPPER}', '{_LOWER}'), '.'), '')"
)
PG_HOST = "regexp_replace(substring(target_url from '://([^/?#]*)'), '^.*@', '')"
_DOMAIN_OF_URL = f"(SELECT {PG_DOMAIN} FROM (SELECT {PG_HOST} AS h) AS p)"  # noqa: S608
_RANGE = "WHERE id >= {lo} AND id < {hi} AND target_domain IS NULL"
#: Every piece is a constant of this file; the batch bounds are bound parameters online.
PG_BACKFILL = f"UPDATE scraping_jobs SET target_domain = {_DOMAIN_OF_URL} " + _RANGE.format(  # noqa: S608
    lo=":lo", hi=":hi")
PG_BACKFILL_OFFLINE = f"""DO $$
DECLARE lo bigint; hi bigint;
BEGIN
    SELECT min(id), max(id) INTO lo, hi FROM scraping_jobs;
    WHILE lo <= hi LOOP
        UPDATE scraping_jobs SET target_domain = {_DOMAIN_OF_URL} {_RANGE.format(lo="lo", hi=f"lo + {BATCH}")};
        COMMIT;
        lo := lo + {BATCH};
    END LOOP;
END
$$"""  # noqa: S608


def _domain(url: str | None) -> str | None:
    """The frozen rule in Python (a copy of domain_of as of this revision), for SQLite."""
    if not url or "://" not in url:
        return None
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    host = host[1:].partition("]")[0] if host.startswith("[") else host.partition(":")[0]
    return host.translate(str.maketrans(_UPPER, _LOWER)).rstrip(".") or None


def _backfill_postgres() -> None:
    if context.is_offline_mode():
        op.execute(PG_BACKFILL_OFFLINE)
        return
    bind = op.get_bind()
    low, high = bind.execute(sa.text("SELECT min(id), max(id) FROM scraping_jobs")).one()
    for start in range(low or 0, (high or -1) + 1, BATCH):
        bind.execute(sa.text(PG_BACKFILL), {"lo": start, "hi": start + BATCH})


def _backfill_sqlite() -> None:
    if context.is_offline_mode():
        raise RuntimeError("0008 backfills target_domain with a Python function on SQLite: run it online")
    bind = op.get_bind()
    bind.connection.driver_connection.create_function("slt_domain_0008", 1, _domain,  # type: ignore[union-attr]
                                                       deterministic=True)
    op.execute("UPDATE scraping_jobs SET target_domain = slt_domain_0008(target_url)")


def upgrade() -> None:
    """Add the column, backfill it in batches, then index it (concurrently on PostgreSQL)."""
    postgres = op.get_context().dialect.name == "postgresql"
    op.add_column("scraping_jobs", sa.Column("target_domain", sa.String(length=255), nullable=True))
    with op.get_context().autocommit_block():
        _backfill_postgres() if postgres else _backfill_sqlite()
        op.create_index(INDEX, "scraping_jobs", ["target_domain", "created_at"], unique=False,
                        if_not_exists=True, postgresql_concurrently=True)


def downgrade() -> None:
    """Drop the index and the column (the domains are derived from target_url: nothing is lost)."""
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, table_name="scraping_jobs", if_exists=True, postgresql_concurrently=True)
    op.drop_column("scraping_jobs", "target_domain")

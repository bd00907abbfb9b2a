"""job leases: kind, lease_expires_at, dedupe_key, status/timestamp CHECK

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 01:30:00+00:00

Workers hold jobs by lease (claims set lease_expires_at; heartbeats extend it; expired leases are
recovered), jobs have a kind for routing, and a dedupe key allows one active job per key (a partial
unique index). A CHECK keeps timestamps, claim and lease consistent with the status. Rows written under
the old, looser rules are brought into line first, so the constraint validates on a live database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from stratlogic.db.migration_ops import batch_alter_keeping_triggers

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_SQL = "status IN ('pending', 'queued', 'running')"
CHECK_NAME = "ck_scraping_jobs_status_timestamps"
CHECK_SQL = (
    "(status IN ('pending', 'queued') AND finished_at IS NULL AND claimed_by IS NULL AND lease_expires_at IS NULL)"
    " OR (status = 'running' AND started_at IS NOT NULL AND finished_at IS NULL AND claimed_by IS NOT NULL"
    " AND lease_expires_at IS NOT NULL)"
    " OR (status IN ('completed', 'failed', 'cancelled') AND finished_at IS NOT NULL AND lease_expires_at IS NULL)"
)
#: Bring old rows into line with the new rule (a running job gets a lease that has already expired, so
#: the first claim after the upgrade recovers it).
FIXUPS = (
    "UPDATE scraping_jobs SET finished_at = NULL, claimed_by = NULL WHERE status IN ('pending', 'queued') "
    "AND (finished_at IS NOT NULL OR claimed_by IS NOT NULL)",
    "UPDATE scraping_jobs SET started_at = COALESCE(started_at, created_at), finished_at = NULL, "
    "claimed_by = COALESCE(claimed_by, 'unknown'), lease_expires_at = COALESCE(heartbeat_at, started_at, created_at) "
    "WHERE status = 'running'",
    "UPDATE scraping_jobs SET finished_at = COALESCE(finished_at, updated_at) "
    "WHERE status IN ('completed', 'failed', 'cancelled') AND finished_at IS NULL",
)


def upgrade() -> None:
    """Add the columns, fix up old rows, then the CHECK and the partial unique index."""
    postgres = op.get_context().dialect.name == "postgresql"
    op.add_column("scraping_jobs", sa.Column("kind", sa.String(length=50), server_default="scrape", nullable=False))
    op.add_column("scraping_jobs", sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("scraping_jobs", sa.Column("dedupe_key", sa.String(length=200), nullable=True))
    for statement in FIXUPS:
        op.execute(statement)
    if postgres:  # NOT VALID now, VALIDATE in its own transaction below: reads and writes never block
        op.execute(f"ALTER TABLE scraping_jobs ADD CONSTRAINT {CHECK_NAME} CHECK ({CHECK_SQL}) NOT VALID")
    else:
        with batch_alter_keeping_triggers(op, "scraping_jobs") as batch:
            batch.create_check_constraint(op.f(CHECK_NAME), sa.text(CHECK_SQL))
    with op.get_context().autocommit_block():
        if postgres:
            op.execute(f"ALTER TABLE scraping_jobs VALIDATE CONSTRAINT {CHECK_NAME}")
        op.create_index("uq_scraping_jobs_active_dedupe_key", "scraping_jobs", ["dedupe_key"], unique=True,
                        if_not_exists=True, postgresql_concurrently=True, postgresql_where=sa.text(ACTIVE_SQL),
                        sqlite_where=sa.text(ACTIVE_SQL))


def downgrade() -> None:
    """Drop the index, the CHECK and the columns."""
    with op.get_context().autocommit_block():
        op.drop_index("uq_scraping_jobs_active_dedupe_key", table_name="scraping_jobs", if_exists=True,
                      postgresql_concurrently=True)
    with batch_alter_keeping_triggers(op, "scraping_jobs") as batch:
        batch.drop_constraint(op.f(CHECK_NAME), type_="check")
        batch.drop_column("dedupe_key")
        batch.drop_column("lease_expires_at")
        batch.drop_column("kind")

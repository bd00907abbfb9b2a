"""claim index: queued jobs in claim order (priority DESC, created_at, id)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 03:20:00+00:00

Workers claim the highest-priority, oldest queued job. Without an index in exactly that order every
claim sorts all queued jobs, so a deep queue makes each claim slower. The index is partial (queued rows
only), so it stays small however many finished jobs the table holds. Built CONCURRENTLY on PostgreSQL
so a busy queue is never locked against writers; IF NOT EXISTS makes a re-run after an interrupted build safe.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_scraping_jobs_claim_order"
QUEUED = "status = 'queued'"


def upgrade() -> None:
    """Create the partial index without blocking writers."""
    with op.get_context().autocommit_block():
        op.create_index(NAME, "scraping_jobs", [sa.column("priority").desc(), "created_at", "id"], unique=False,
                        if_not_exists=True, postgresql_concurrently=True,
                        postgresql_where=sa.text(QUEUED), sqlite_where=sa.text(QUEUED))


def downgrade() -> None:
    """Drop it, again without blocking writers."""
    with op.get_context().autocommit_block():
        op.drop_index(NAME, table_name="scraping_jobs", if_exists=True, postgresql_concurrently=True)

"""keyset indexes: (created_at, id) on scraping_jobs and artifacts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:40:00+00:00

Newest-first keyset pages sort by (created_at, id); without a matching index every page sorts the whole
table. Built CONCURRENTLY on PostgreSQL (outside the migration transaction) so a busy table is never
locked against writes; IF NOT EXISTS makes a re-run after an interrupted build safe.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_scraping_jobs_created_at_id": "scraping_jobs",
    "ix_artifacts_created_at_id": "artifacts",
}


def upgrade() -> None:
    """Create the two indexes without blocking writers."""
    with op.get_context().autocommit_block():
        for name, table in INDEXES.items():
            op.create_index(name, table, ["created_at", "id"], unique=False, if_not_exists=True,
                            postgresql_concurrently=True)


def downgrade() -> None:
    """Drop them, again without blocking writers."""
    with op.get_context().autocommit_block():
        for name, table in INDEXES.items():
            op.drop_index(name, table_name=table, if_exists=True, postgresql_concurrently=True)

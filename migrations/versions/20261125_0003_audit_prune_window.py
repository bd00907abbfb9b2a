"""audit prune window: the one way to delete a prefix of audit_logs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:00:00+00:00

The guards of 0001 refuse every DELETE on audit_logs. Retention must be able to cut the oldest rows
(after archiving them). This adds audit_prune_window: while a row there says max_id = N (inside the
pruning transaction only), the guards let rows with id <= N be deleted, and nothing else. UPDATE and
TRUNCATE stay refused.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_GUARD_WITH_WINDOW = """
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.id <= w.max_id) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
PG_GUARD_PLAIN = """
CREATE OR REPLACE FUNCTION audit_logs_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_logs is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
SQLITE_DELETE_WITH_WINDOW = (
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.id <= w.max_id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END"
)
SQLITE_DELETE_PLAIN = (
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END"
)


def upgrade() -> None:
    """Create the window table, then let the guards consult it."""
    op.create_table(
        "audit_prune_window",
        sa.Column("max_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False,
                  nullable=False),
        sa.PrimaryKeyConstraint("max_id", name=op.f("pk_audit_prune_window")),
    )
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_GUARD_WITH_WINDOW)
    else:
        op.execute("DROP TRIGGER audit_logs_no_delete")
        op.execute(SQLITE_DELETE_WITH_WINDOW)


def downgrade() -> None:
    """Back to guards that refuse every DELETE, then drop the table."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_GUARD_PLAIN)
    else:
        op.execute("DROP TRIGGER audit_logs_no_delete")
        op.execute(SQLITE_DELETE_PLAIN)
    op.drop_table("audit_prune_window")

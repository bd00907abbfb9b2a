"""audit prune prefix only: an open prune window lets only the oldest rows go

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 09:00:00+00:00

The guards of 0003 let a DELETE through for any row with id <= the window's max_id. A client that can
write audit_prune_window could open a window of its own covering every id and delete rows from the
middle or the end (verify then catches the gap in the middle, but rows cut off the end only against a
checkpoint). Now a deletion must also take a prefix: no row older than a deleted one may remain.

- PostgreSQL: a statement-level AFTER DELETE trigger over the deleted rows (a transition table) refuses
  the statement when a remaining row is older than the newest deleted one.
- SQLite: the row trigger also refuses a row while an older one remains (SQLite deletes a rowid range
  in ascending order, so a real prefix passes row by row).

Who may write audit_prune_window at all is for PostgreSQL privileges (the access-control issue).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PG_PREFIX_ONLY = """
CREATE FUNCTION audit_logs_prefix_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM audit_logs WHERE id < (SELECT max(id) FROM pruned)) THEN
        RAISE EXCEPTION 'audit_logs is append-only: only the oldest rows can be pruned, and older rows remain'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NULL;
END
$$
"""
PG_PREFIX_TRIGGER = (
    "CREATE TRIGGER audit_logs_prefix_only AFTER DELETE ON audit_logs REFERENCING OLD TABLE AS pruned "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_prefix_only()"
)
SQLITE_DELETE_PREFIX_ONLY = (
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.id <= w.max_id) "
    "OR EXISTS (SELECT 1 FROM audit_logs older WHERE older.id < OLD.id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END"
)
SQLITE_DELETE_WITH_WINDOW = (  # as 0003 left it
    "CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs "
    "WHEN NOT EXISTS (SELECT 1 FROM audit_prune_window w WHERE OLD.id <= w.max_id) "
    "BEGIN SELECT RAISE(ABORT, 'audit_logs is append-only: DELETE refused'); END"
)


def upgrade() -> None:
    """Add the prefix rule to the delete guard."""
    if op.get_context().dialect.name == "postgresql":
        op.execute(PG_PREFIX_ONLY)
        op.execute(PG_PREFIX_TRIGGER)
    else:
        op.execute("DROP TRIGGER audit_logs_no_delete")
        op.execute(SQLITE_DELETE_PREFIX_ONLY)


def downgrade() -> None:
    """Back to 0003's guard (any row inside the window)."""
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_logs_prefix_only ON audit_logs")
        op.execute("DROP FUNCTION audit_logs_prefix_only()")
    else:
        op.execute("DROP TRIGGER audit_logs_no_delete")
        op.execute(SQLITE_DELETE_WITH_WINDOW)

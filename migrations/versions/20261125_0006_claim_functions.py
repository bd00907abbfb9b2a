"""claim functions: the write lock and the audit tail, callable inside one claim statement (PostgreSQL)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 06:30:00+00:00

A worker's claim is one statement (stratlogic/repositories/_claim.py) that picks jobs, marks them
running and appends their audit rows. Two things it needs cannot be written as plain SQL in that
statement:

- stratlogic_write_lock() takes the write lock (the advisory lock every writer takes before its first
  row lock, stratlogic/db/writelock.py). Called in the pick's WHERE clause, it runs below the row
  locking step, so the lock is held before any job row is locked.
- stratlogic_audit_tail() returns the newest audit hash read with a snapshot taken after the lock (a
  VOLATILE PL/pgSQL function gets a fresh snapshot for each query; the statement's own snapshot was
  taken before it waited for the lock, and would miss rows appended meanwhile).

Nothing on SQLite, where a writer's BEGIN IMMEDIATE already holds the write lock.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WRITE_LOCK = 0x5354524154415544  # stratlogic.db.writelock.WRITE_LOCK (a migration never imports the package)
GENESIS = "0" * 64

WRITE_LOCK_FUNCTION = f"""
CREATE OR REPLACE FUNCTION stratlogic_write_lock() RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({WRITE_LOCK});
    RETURN true;
END
$$
"""
AUDIT_TAIL_FUNCTION = f"""
CREATE OR REPLACE FUNCTION stratlogic_audit_tail() RETURNS text LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock({WRITE_LOCK});
    RETURN coalesce((SELECT hash FROM audit_logs ORDER BY id DESC LIMIT 1), '{GENESIS}');
END
$$
"""  # noqa: S608 (interpolates two constants of this file, no input)


def upgrade() -> None:
    """Create both functions (PostgreSQL only)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(WRITE_LOCK_FUNCTION)
        op.execute(AUDIT_TAIL_FUNCTION)


def downgrade() -> None:
    """Drop them."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS stratlogic_audit_tail()")
        op.execute("DROP FUNCTION IF EXISTS stratlogic_write_lock()")

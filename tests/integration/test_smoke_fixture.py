from sqlalchemy import text

from stratlogic.db import migrate


def test_fresh_database_is_at_head(db):
    with db.unit_of_work() as uow:
        version = uow.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == migrate.heads()[0]

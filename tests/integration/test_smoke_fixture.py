from sqlalchemy import text


def test_fresh_database_is_at_head(db):
    with db.unit_of_work() as uow:
        version = uow.session.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == "0002"

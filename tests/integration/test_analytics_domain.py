"""scraping_jobs.target_domain: one rule in Python (on write) and in migration 0008's backfill, both engines."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from stratlogic.config import Settings
from stratlogic.db import Database, migrate
from stratlogic.db.engine import make_engine
from stratlogic.models import ScrapingJob
from stratlogic.models.job import domain_of
from stratlogic.repositories import JobRepository, UserRepository
from tests.conftest import make_settings

URLS = {
    "https://Example.COM/path": "example.com",
    "http://user:pw@Host.Example:8080/x?y#z": "host.example",
    "https://a@b@c.example/": "c.example",
    "https://[2001:DB8::1]:443/feed": "2001:db8::1",
    "https://example.com./": "example.com",
    "http://host.example?q=1": "host.example",
    "http://host.example#frag": "host.example",
    "https://host.example:81:82/": "host.example",
    "https://ÄBC.Example/": "Äbc.example",
    "https://shop.example/a://b.example/": "shop.example",
    "http:///no-host": None,
    "https://:8080/": None,
}


def test_domain_of_rule() -> None:
    assert {url: domain_of(url) for url in URLS} == URLS
    assert domain_of("no scheme here") is None and domain_of(None) is None


@pytest.fixture
def at_0007(empty_url: str, tmp_path: Path) -> Settings:
    settings = make_settings(empty_url, tmp_path)
    migrate.upgrade(settings, "0007")
    return settings


def test_backfill_follows_the_rule_then_downgrade_and_upgrade(at_0007: Settings) -> None:
    engine = make_engine(at_0007)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, email) VALUES ('ada', 'ada@example.com')"))
        owner = conn.execute(text("SELECT id FROM users")).scalar_one()
        for n, url in enumerate(URLS):
            conn.execute(text("INSERT INTO scraping_jobs (owner_id, name, target_url, options) "
                              "VALUES (:owner, :name, :url, '{}')"), {"owner": owner, "name": f"j{n}", "url": url})
    migrate.upgrade(at_0007, "head")
    with engine.connect() as conn:
        found = conn.execute(text("SELECT target_url, target_domain FROM scraping_jobs")).all()
    stored: dict[str, str | None] = {url: domain for url, domain in found}
    assert stored == URLS
    migrate.downgrade(at_0007, "0007", yes=True)
    with engine.connect() as conn:
        columns = conn.execute(select(text("*")).select_from(text("scraping_jobs")).limit(1)).keys()
    assert "target_domain" not in columns
    migrate.upgrade(at_0007, "head")
    assert migrate.check(at_0007) == []
    engine.dispose()


def test_filled_on_write_by_create_and_bulk_inserts(db: Database) -> None:
    with db.unit_of_work() as uow:
        owner = UserRepository(uow).create("ada", "ada@example.com").id
        jobs = JobRepository(uow)
        created = jobs.create(owner, "one", "https://News.Example:8443/a").id
        many = jobs.add_many([{"owner_id": owner, "name": "bulk", "target_url": "http://x@Shop.example/",
                               "options": {}, "status": "pending"}])
    with db.unit_of_work(readonly=True) as uow:
        domains = dict(uow.session.execute(select(ScrapingJob.id, ScrapingJob.target_domain)).all())
    assert domains == {created: "news.example", many[0]: "shop.example"}

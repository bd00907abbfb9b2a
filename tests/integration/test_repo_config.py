"""The configuration repository against real databases (SQLite and PostgreSQL).

Declared defaults, typed round trips, refusal of wrong types and unknown keys, unset, listing with secrets
masked, who changed a value, and the parsing of text typed at a CLI prompt.

Every test runs once per engine through the ``db`` fixture.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from stratlogic.db import Database
from stratlogic.errors import ValidationError
from stratlogic.jobs import claim
from stratlogic.models import SystemConfig, utcnow
from stratlogic.models.job import MAX_LEASE_SECONDS
from stratlogic.repositories import ConfigRepository, UserRepository
from stratlogic.repositories.config import DECLARED, MASK, ConfigKey, parse_text
from stratlogic.repositories.jobs import JobRepository
from tests.integration.repo_helpers import committed_job, texts_of


@pytest.fixture
def job_id(db: Database) -> int:
    """The id of a committed job (and of its owner, a user without password)."""
    return committed_job(db)


# --- configuration -------------------------------------------------------------------------------


def test_unset_keys_read_as_declared_defaults(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        for key, spec in DECLARED.items():
            assert config.value(key) == spec.default
        assert config.value("jobs.lease_seconds") == 300
        assert config.value("scraper.user_agent") == "StratLogicBot/1.0"


@pytest.mark.parametrize(("key", "value", "kind"), [
    ("jobs.lease_seconds", 600, int),
    ("artifacts.max_size_bytes", 5 * 1024**4, int),
    ("jobs.default_max_retries", 0, int),
    ("jobs.backoff_base_seconds", 12.5, float),
    pytest.param("jobs.backoff_max_seconds", 7200.0, float, id="integral-float"),
    ("scraper.user_agent", "Bot/2.0 (+https://example.com)", str),
    ("scraper.user_agent", "42", str),
    ("scraper.proxy_url", "", str),  # no proxy (a blank user agent is refused: issue 13 item 16)
    ("artifacts.allowed_content_types", ["text/html", "application/json"], list),
    ("artifacts.allowed_content_types", [], list),
])
def test_set_then_value_round_trips(db: Database, key: str, value: Any, kind: type,
                                    request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        entry = ConfigRepository(uow).set(key, value)
        assert entry.value == value
        assert entry.is_default is False
    with db.unit_of_work() as uow:
        stored = ConfigRepository(uow).value(key)
    assert stored == value
    assert type(stored) is kind


def test_int_for_a_float_key_reads_back_as_float(db: Database, request: pytest.FixtureRequest) -> None:
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).set("jobs.backoff_base_seconds", 5).value == 5.0
    with db.unit_of_work() as uow:
        stored = ConfigRepository(uow).value("jobs.backoff_base_seconds")
    assert stored == 5.0
    assert type(stored) is float


def test_set_twice_overwrites(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 10)
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", 20)
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).value("jobs.lease_seconds") == 20
        assert ConfigRepository(uow).count() == 1


@pytest.mark.parametrize(("key", "value", "expected_type"), [
    ("jobs.lease_seconds", "5", "int"),
    ("jobs.lease_seconds", True, "int"),
    ("jobs.lease_seconds", 5.0, "int"),
    ("jobs.lease_seconds", 0, "int"),
    ("jobs.lease_seconds", -3, "int"),
    ("jobs.lease_seconds", None, "int"),
    ("jobs.default_max_retries", 101, "int"),
    ("jobs.default_max_retries", -1, "int"),
    ("scraper.user_agent", ["Bot"], "str"),
    ("scraper.user_agent", 42, "str"),
    ("scraper.user_agent", "", "str"),
    ("scraper.user_agent", " \t", "str"),
    ("jobs.backoff_base_seconds", "1.5", "float"),
    ("jobs.backoff_base_seconds", 0.0, "float"),
    ("jobs.backoff_base_seconds", math.nan, "float"),
    ("jobs.backoff_base_seconds", False, "float"),
    ("artifacts.allowed_content_types", "text/html", "list[str]"),
    ("artifacts.allowed_content_types", ["text/html", 3], "list[str]"),
    ("artifacts.allowed_content_types", ("text/html",), "list[str]"),
])
def test_wrong_types_are_refused_naming_key_and_type(db: Database, key: str, value: Any,
                                                      expected_type: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set(key, value)
        message = str(caught.value)
        assert repr(key) in message
        assert f"expects {expected_type}" in message
        assert config.value(key) == DECLARED[key].default
        assert config.count() == 0


@pytest.mark.parametrize("value", [math.inf])
def test_infinite_float_is_refused_naming_the_key(db: Database, value: float) -> None:
    with db.unit_of_work() as uow, pytest.raises(ValidationError, match=r"jobs\.backoff_max_seconds"):
        ConfigRepository(uow).set("jobs.backoff_max_seconds", value)


@pytest.mark.parametrize(("key", "value"), [
    ("jobs.lease_seconds", 99999999999999999999999),
    ("jobs.lease_seconds", MAX_LEASE_SECONDS + 1),
    ("jobs.backoff_base_seconds", 1e300),
    ("jobs.backoff_max_seconds", 1e300),
    ("jobs.backoff_max_seconds", 86_400.5),
    ("audit.retention_days", 36_501),
])
def test_values_beyond_their_bound_are_refused_naming_key_and_value(db: Database, key: str, value: Any) -> None:
    """Unbounded, such a value was stored and then made every claim or retry overflow."""
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set(key, value)
        assert repr(key) in str(caught.value) and repr(value) in str(caught.value)
        assert config.count() == 0


def test_largest_values_are_accepted_and_a_claim_still_works(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        config.set("jobs.lease_seconds", MAX_LEASE_SECONDS)
        config.set("jobs.backoff_base_seconds", 86_400)
        config.set("jobs.backoff_max_seconds", 86_400.0)
        config.set("audit.retention_days", 36_500)
        owner = UserRepository(uow).create("owner", "owner@example.com")
        job_id = JobRepository(uow).create(owner.id, "job", "https://example.com/").id
    claimed = claim(db, "w1")
    assert [job.id for job in claimed] == [job_id]
    lease = claimed[0].lease_expires_at
    assert lease is not None and lease - utcnow() > timedelta(days=6)
    with db.unit_of_work() as uow:  # the longest backoff still fits a date
        retried = JobRepository(uow).fail(job_id, "Timeout", "slow", "w1")
        assert retried.next_retry_at is not None and retried.next_retry_at - utcnow() >= timedelta(hours=12)


@pytest.mark.parametrize("call", ["value", "set", "unset", "entry"])
def test_unknown_key_is_refused_listing_declared_keys(db: Database, call: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        args: tuple[Any, ...] = ("jobs.no_such_key", 1) if call == "set" else ("jobs.no_such_key",)
        with pytest.raises(ValidationError) as caught:
            getattr(config, call)(*args)
        message = str(caught.value)
        assert "'jobs.no_such_key'" in message
        assert all(key in message for key in DECLARED)
        assert config.count() == 0


def test_unset_returns_to_default(db: Database) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.unset("jobs.lease_seconds") is False
        config.set("jobs.lease_seconds", 42)
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 42
        assert config.unset("jobs.lease_seconds") is True
        assert config.unset("jobs.lease_seconds") is False
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 300
        assert config.entry("jobs.lease_seconds").is_default is True


def test_entries_list_every_key_and_mask_secrets(db: Database) -> None:
    proxy = "http://scraper:s3cret-Pa55@proxy.internal:3128"
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        unset_proxy = {e.key: e for e in config.entries()}["scraper.proxy_url"]
        assert (unset_proxy.value, unset_proxy.is_default, unset_proxy.is_secret) == ("", True, True)
        config.set("scraper.proxy_url", proxy)
        config.set("jobs.lease_seconds", 60)
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        entries = config.entries()
        assert [e.key for e in entries] == sorted(DECLARED)
        by_key = {e.key: e for e in entries}
        assert by_key["scraper.proxy_url"].value == MASK == "***"
        assert by_key["scraper.proxy_url"].is_default is False
        assert config.entry("scraper.proxy_url").value == MASK
        assert all(proxy not in repr(e) and "s3cret" not in repr(e) for e in entries)
        assert config.value("scraper.proxy_url") == proxy
        assert (by_key["jobs.lease_seconds"].value, by_key["jobs.lease_seconds"].is_default) == (60, False)
        assert by_key["jobs.lease_seconds"].type_name == "int"
        assert by_key["artifacts.allowed_content_types"].type_name == "list[str]"
        assert by_key["audit.retention_days"].is_default is True
        assert by_key["audit.retention_days"].value == 365
        assert sum(not e.is_default for e in entries) == 2


def test_frame_masks_secret_values(db: Database) -> None:
    proxy = "http://scraper:s3cret-Pa55@proxy.internal:3128"
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        config.set("scraper.proxy_url", proxy)
        config.set("jobs.lease_seconds", 60)
        frame = config.frame()
    values = dict(zip(frame["key"], frame["value"], strict=True))
    assert values == {"jobs.lease_seconds": "60", "scraper.proxy_url": f'"{MASK}"'}  # JSON text, masked
    assert not any("s3cret" in str(cell) for cell in frame.to_numpy().ravel())


@pytest.mark.parametrize("value", [b"http://scraper:s3cret-Pa55@proxy:3128", ["http://scraper:s3cret-Pa55@proxy"]])
def test_wrong_type_for_a_secret_key_does_not_repeat_the_value(db: Database, value: Any) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError) as caught:
            config.set("scraper.proxy_url", value)
        assert "'scraper.proxy_url' expects str" in str(caught.value)
        assert not any("s3cret" in text for text in texts_of(caught.value))
        assert config.count() == 0


@pytest.mark.parametrize("call", ["add", "add_many", "upsert_many"])
def test_bulk_and_raw_writes_are_refused_pointing_to_set(db: Database, call: str) -> None:
    """They would store undeclared keys and wrongly typed values; ``set`` checks both."""
    rows = [{"key": "jobs.no_such_key", "value": "x"}, {"key": "jobs.lease_seconds", "value": "ten"}]
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        with pytest.raises(ValidationError, match=r"ConfigRepository\.set"):
            if call == "add":
                config.add(SystemConfig(key="jobs.no_such_key", value="x"))
            elif call == "add_many":
                config.add_many(rows)
            else:
                config.upsert_many(rows, conflict=["key"])
        assert config.count() == 0


def test_updated_by_is_stored(db: Database) -> None:
    with db.unit_of_work() as uow:
        admin = UserRepository(uow).create("admin", "admin@example.com", role="admin")
        entry = ConfigRepository(uow).set("audit.retention_days", 90, updated_by=admin.id)
        assert entry.updated_by_id == admin.id
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        stored = config.entry("audit.retention_days")
        assert stored.updated_by_id == admin.id
        assert stored.updated_at is not None
        assert uow.session.scalar(text("SELECT updated_by_id FROM system_config")) == admin.id
        config.set("audit.retention_days", 120)  # a change without an author clears the old one
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).entry("audit.retention_days").updated_by_id is None


@pytest.mark.parametrize(("key", "typed", "expected"), [
    ("jobs.lease_seconds", "10", 10),
    ("jobs.lease_seconds", " 10 ", 10),
    ("jobs.backoff_base_seconds", "1.5", 1.5),
    ("jobs.backoff_base_seconds", "10", 10.0),
    ("artifacts.allowed_content_types", '["text/html", "text/csv"]', ["text/html", "text/csv"]),
    ("scraper.user_agent", "12345", "12345"),
    ("scraper.user_agent", "1.5", "1.5"),
    ("scraper.user_agent", "true", "true"),
    ("scraper.user_agent", '["a"]', '["a"]'),
    ("scraper.user_agent", '{"a": 1}', '{"a": 1}'),
    ("scraper.user_agent", "Bot/1.0 (+https://example.com)", "Bot/1.0 (+https://example.com)"),
    pytest.param("scraper.user_agent", "null", "null"),
    pytest.param("scraper.user_agent", '"Bot"', '"Bot"'),
])
def test_parse_text_gives_typed_values(key: str, typed: str, expected: Any) -> None:
    parsed = parse_text(key, typed)
    assert parsed == expected
    assert type(parsed) is type(expected)


@pytest.mark.parametrize(("key", "typed"), [
    ("jobs.lease_seconds", "true"),
    ("jobs.lease_seconds", "ten"),
    ("jobs.lease_seconds", "1.5"),
    ("jobs.lease_seconds", "0"),
    ("jobs.lease_seconds", '"10"'),
    ("artifacts.allowed_content_types", "text/html"),
    ("no.such.key", "1"),
])
def test_parse_text_refuses_what_the_key_cannot_hold(key: str, typed: str) -> None:
    with pytest.raises(ValidationError, match=repr(key).replace(".", r"\.")):
        parse_text(key, typed)


@pytest.fixture
def bool_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A bool key declared for the test only (``DECLARED`` has none), removed again afterwards."""
    assert all(spec.type is not bool for spec in DECLARED.values())
    monkeypatch.setitem(DECLARED, "test.enabled", ConfigKey("test.enabled", bool, False, "A test switch."))
    return "test.enabled"


@pytest.mark.parametrize(("typed", "expected"), [("true", True), ("false", False)])
def test_parse_text_bool(bool_key: str, typed: str, expected: bool) -> None:
    assert parse_text(bool_key, typed) is expected


@pytest.mark.parametrize("typed", ["1", "0", "yes", '"true"', "null"])
def test_parse_text_bool_refuses_other_text(bool_key: str, typed: str) -> None:
    with pytest.raises(ValidationError, match="expects bool"):
        parse_text(bool_key, typed)


def test_bool_value_round_trips(db: Database, bool_key: str) -> None:
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value(bool_key) is False
        config.set(bool_key, True)
        with pytest.raises(ValidationError, match="expects bool"):
            config.set(bool_key, 1)
    with db.unit_of_work() as uow:
        assert ConfigRepository(uow).value(bool_key) is True


def test_parsed_text_round_trips_through_set(db: Database) -> None:
    with db.unit_of_work() as uow:
        ConfigRepository(uow).set("jobs.lease_seconds", parse_text("jobs.lease_seconds", "77"))
        ConfigRepository(uow).set("scraper.user_agent", parse_text("scraper.user_agent", "2024"))
    with db.unit_of_work() as uow:
        config = ConfigRepository(uow)
        assert config.value("jobs.lease_seconds") == 77
        assert config.value("scraper.user_agent") == "2024"

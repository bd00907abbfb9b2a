"""The demo generator's pure parts: canonical times, chained rows, and days made the same in any process."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import orjson

from stratlogic.models.audit_rules import GENESIS, canonical, digest, timestamp
from stratlogic.repositories.bulk import JSONB_VERSION
from stratlogic.seed._days import Plan, Setup, days
from stratlogic.seed._lifecycle import Policy
from stratlogic.seed._rows import DAY, HOUR, SECOND, Chain, micros, moment, stamp


def test_stamp_is_the_trails_canonical_time() -> None:
    rng = random.Random(5)
    for _ in range(5_000):
        when = datetime(2000, 1, 1, tzinfo=UTC) + timedelta(microseconds=rng.randrange(40 * 365 * DAY))
        assert stamp(micros(when)) == timestamp(when)
        assert moment(micros(when)) == when


def test_chained_rows_hash_like_the_verifier_expects() -> None:
    chain, key = Chain(10, GENESIS, None), b"secret"
    keyed = Chain(10, GENESIS, key)
    details = {"to": "running", "from": "queued", "attempt": 2, "worker": "scraper-01", "values": {"b": [1, None]}}
    first = chain.entry(5, None, "job.status_changed", "job", "7", details)
    for row, secret in ((first, None), (keyed.entry(5, None, "job.status_changed", "job", "7", details), key)):
        body = canonical(timestamp(moment(5)), None, "job.status_changed", "job", "7", None, None, details)
        assert row[0] == 10 and row[1] == 5 and row[9] == GENESIS and row[10] == digest(GENESIS, body, secret)
        assert orjson.loads(row[8][len(JSONB_VERSION):]) == details
    second = chain.entry(6, 3, "user.created", "user", "3", {"values": {}})
    body = canonical(timestamp(moment(6)), 3, "user.created", "user", "3", None, None, {"values": {}})
    assert second[0] == 11 and second[9] == first[10] and second[10] == chain.tail == digest(first[10], body)


def test_a_day_is_the_same_made_here_or_in_a_producer_process() -> None:
    start = micros(datetime(2026, 3, 2, tzinfo=UTC))
    setup = Setup(3, (1, 2, 3), (1.0, 0.5, 0.2), Policy(start + 2 * DAY, 300 * SECOND, 30 * SECOND, 3600 * SECOND,
                                                         True), "")
    plans = [Plan(0, start, 30, 1, start + HOUR), Plan(1, start + DAY, 40, 31, start + HOUR)]
    here = list(days(setup, plans, processes=0))
    there = list(days(setup, plans, processes=1))
    assert here == there
    assert [row[0] for day in here for row in day.jobs] == list(range(1, 71))
    assert all(event[0] < start + 2 * DAY for day in here for event in day.events)

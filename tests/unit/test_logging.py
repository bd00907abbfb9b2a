"""Logging redacts secrets and password hashes, in text and JSON, messages and tracebacks."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from stratlogic.config import load_settings
from stratlogic.logs import MASK, configure_logging, redact, register_secret

HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[io.StringIO]:
    """Configure logging from settings carrying secrets, and capture what the handler writes."""
    settings = load_settings(home=tmp_path, admin_password="Admin-Pass-For-Logs-77",
                             database_url="postgresql://app:url-pass-55@h/db", log_format="json")
    configure_logging(settings, force=True)
    handler = logging.getLogger("stratlogic").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    configure_logging(load_settings(home=tmp_path), force=True)


@pytest.mark.parametrize(
    ("raw", "hidden"),
    [
        (f"user ada hash {HASH}", "aGFzaGhhc2hoYXNoaGFzaA"),
        ("connect postgresql://app:hunter-pass@db/x", "hunter-pass"),
        ("login with password=letme-in-42 ok", "letme-in-42"),
        ("token: abc.def.ghi", "abc.def.ghi"),
    ],
)
def test_redact_masks_each_kind_of_secret(raw: str, hidden: str) -> None:
    cleaned = redact(raw)
    assert hidden not in cleaned
    assert MASK in cleaned


def test_registered_secret_is_masked_anywhere() -> None:
    register_secret("plain-looking-value-123")
    assert redact("the value plain-looking-value-123 leaked") == f"the value {MASK} leaked"


def test_log_records_are_redacted_in_json(captured: io.StringIO) -> None:
    log = logging.getLogger("stratlogic.test")
    log.info("admin is %s with %s via %s", "Admin-Pass-For-Logs-77", HASH, "postgresql://app:url-pass-55@h/db")
    entry = json.loads(captured.getvalue().splitlines()[-1])
    assert entry["level"] == "INFO" and entry["logger"] == "stratlogic.test"
    for secret in ("Admin-Pass-For-Logs-77", "aGFzaGhhc2hoYXNoaGFzaA", "url-pass-55"):
        assert secret not in entry["message"]


def test_tracebacks_are_redacted(captured: io.StringIO) -> None:
    log = logging.getLogger("stratlogic.test")
    try:
        raise RuntimeError("failed for Admin-Pass-For-Logs-77")
    except RuntimeError:
        log.exception("boom")
    text = captured.getvalue()
    assert "RuntimeError" in text
    assert "Admin-Pass-For-Logs-77" not in text


def test_configure_logging_is_idempotent(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    configure_logging(settings, force=True)
    configure_logging(settings)
    assert len(logging.getLogger("stratlogic").handlers) == 1


def test_a_password_in_the_url_query_is_redacted(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, database_url="postgresql://app@h/db?password=query-pass-66")
    configure_logging(settings, force=True)
    try:
        assert "query-pass-66" not in redact("connecting with query-pass-66")
    finally:
        configure_logging(load_settings(home=tmp_path), force=True)

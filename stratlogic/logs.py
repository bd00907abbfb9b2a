"""Logging, configured once, with secrets and password hashes redacted from every record.

Redaction happens in a filter on the package's handler, so a secret that slips into a message, an
argument or a traceback is masked whatever the caller logged.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the settings load pydantic and SQLAlchemy: not for every CLI start
    from stratlogic.config import Settings

MASK = "***"
_PATTERNS = [
    re.compile(r"\$argon2(?:id|i|d)\$[A-Za-z0-9+/=$,.-]+"),  # argon2 password hashes (they contain commas)
    re.compile(r"(?<=://)([^:/@\s]+):([^@\s]+)(?=@)"),  # user:password@ in URLs
    re.compile(r"(?i)\b(password|passwd|secret|token|api_key|access_key|secret_key)(\s*[=:]\s*)(\S+)"),
]
_secrets: set[str] = set()
_lock = threading.Lock()
_configured = False


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears in a log record."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask password hashes, URL passwords, ``key=value`` secrets and every registered secret."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(MASK, text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}:{MASK}", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """Render each record's message (and traceback) once, redacted, so no handler sees the raw text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and traceback when there is one)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            entry["traceback"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: Settings, *, force: bool = False) -> None:
    """Attach one redacting handler to the ``stratlogic`` logger; later calls do nothing unless forced."""
    from stratlogic.config import secret_query_values

    global _configured
    with _lock:
        if _configured and not force:
            return
        _configured = True
    for secret in (settings.admin_password, settings.audit_key, settings.token, settings.s3_secret_key,
                   settings.s3_access_key):
        register_secret(secret.get_secret_value() if secret else None)
    register_secret(settings.url.password if isinstance(settings.url.password, str) else None)
    for value in secret_query_values(settings.url):  # ?password=… and the like
        register_secret(value)
    logger = logging.getLogger("stratlogic")
    for old in list(logger.handlers):
        logger.removeHandler(old)
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if settings.log_format == "json"
                         else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(settings.log_level)
    logger.propagate = False


__all__ = ["MASK", "JsonFormatter", "RedactingFilter", "configure_logging", "redact", "register_secret"]

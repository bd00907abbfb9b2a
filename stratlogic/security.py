"""Password hashing and strength rules, random passwords, and API-token helpers.

Passwords are hashed with argon2id using one module-level :class:`argon2.PasswordHasher` whose parameters
are written out here, so a change of cost is a deliberate edit and :func:`needs_rehash` can spot hashes
made with older parameters. Every password is checked against the strength rules before it is hashed;
a refusal lists every rule it broke but never repeats the password itself.

The list of common passwords lives in ``stratlogic/data/common-passwords.txt`` (one lower-case entry a
line) and is read once, on first use.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import re
import secrets
import string

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from stratlogic.errors import ValidationError
from stratlogic.logs import register_secret

MIN_LENGTH = 12
MAX_LENGTH = 1024
MIN_DISTINCT_CHARACTERS = 5
MIN_IDENTITY_LENGTH = 3
"""A username or email local part shorter than this is too short to look for inside a password."""

_HASHER = PasswordHasher(
    time_cost=3,
    memory_cost=65536,
    parallelism=4,
    hash_len=32,
    salt_len=16,
    type=Type.ID,
)
_COMMON_LIST = ("data", "common-passwords.txt")
_TRAILING_NOISE = re.compile(r"[\d\W_]+\Z")
"""Digits, punctuation and underscores at the end, as in a common word followed by ``123!``."""

_GENERATED_SYMBOLS = "-_.!@#%+*"
_GENERATED_ALPHABET = string.ascii_letters + string.digits + _GENERATED_SYMBOLS
_GENERATED_CLASSES = (string.ascii_lowercase, string.ascii_uppercase, string.digits, _GENERATED_SYMBOLS)


class WeakPasswordError(ValidationError):
    """A password broke one or more strength rules.

    Attributes:
        reasons: One short phrase per broken rule, e.g. ``"is shorter than 12 characters"``. Neither the
            reasons nor the message contain the password.
    """

    def __init__(self, reasons: list[str]) -> None:
        self.reasons = list(reasons)
        super().__init__(f"password refused: it {'; it '.join(self.reasons)}")


@functools.cache
def _common_passwords() -> frozenset[str]:
    """Load the common-password list from the package data, once.

    Returns:
        The lower-cased entries, blank lines left out.
    """
    resource = importlib.resources.files("stratlogic").joinpath(*_COMMON_LIST)
    lines = resource.read_text(encoding="utf-8").splitlines()
    return frozenset(entry for line in lines if (entry := line.strip().casefold()))


def _is_common(password: str) -> bool:
    """Tell whether a password is a common one, as is or followed by digits and punctuation.

    Args:
        password: The candidate password.

    Returns:
        True when the password, lower-cased and with or without its trailing digits and punctuation,
        is in the common-password list.
    """
    common = _common_passwords()
    lowered = password.casefold()
    if lowered in common:
        return True
    stem = _TRAILING_NOISE.sub("", lowered)
    return bool(stem) and stem in common


def _email_local_part(email: str) -> str:
    """The part of an email address before the last ``@`` (the whole text when there is none)."""
    local, at, _domain = email.rpartition("@")
    return local if at else email


def _contains_identity(password: str, identity: str | None) -> bool:
    """Tell whether a password contains a user's name, ignoring case and names too short to matter.

    Args:
        password: The candidate password.
        identity: A username or email local part, or None when unknown.

    Returns:
        True when ``identity`` has at least :data:`MIN_IDENTITY_LENGTH` characters and occurs in the
        password, case-insensitively.
    """
    if identity is None:
        return False
    needle = identity.strip().casefold()
    return len(needle) >= MIN_IDENTITY_LENGTH and needle in password.casefold()


def _weakness_reasons(password: str, username: str | None, email: str | None) -> list[str]:
    """List every strength rule a password breaks, as phrases that never quote the password."""
    reasons: list[str] = []
    if len(password) < MIN_LENGTH:
        reasons.append(f"is shorter than {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        reasons.append(f"is longer than {MAX_LENGTH} characters")
    if _is_common(password):
        reasons.append("is a common password (also when followed by digits or punctuation)")
    if _contains_identity(password, username):
        reasons.append("contains the username")
    if email is not None and _contains_identity(password, _email_local_part(email)):
        reasons.append("contains the local part of the email address")
    if len(set(password)) < MIN_DISTINCT_CHARACTERS:
        reasons.append(f"has fewer than {MIN_DISTINCT_CHARACTERS} distinct characters")
    return reasons


def check_password_strength(password: str, *, username: str | None = None, email: str | None = None) -> None:
    """Refuse a password that is too short or long, common, personal, or too repetitive.

    Args:
        password: The candidate password.
        username: The account's username; refused inside the password when 3 or more characters long.
        email: The account's email address; its local part is refused inside the password when 3 or
            more characters long.

    Raises:
        WeakPasswordError: Listing every rule the password breaks (the password itself is never shown).
    """
    reasons = _weakness_reasons(password, username, email)
    if reasons:
        raise WeakPasswordError(reasons)


def hash_password(password: str, *, username: str | None = None, email: str | None = None) -> str:
    """Check a password's strength, then hash it with argon2id and the module's parameters.

    Args:
        password: The new password.
        username: The account's username, passed on to :func:`check_password_strength`.
        email: The account's email address, passed on to :func:`check_password_strength`.

    Returns:
        An encoded hash starting with ``$argon2id$`` that carries its salt and parameters.

    Raises:
        WeakPasswordError: When the password breaks a strength rule; nothing is hashed then.
    """
    check_password_strength(password, username=username, email=email)
    return _HASHER.hash(password)


@functools.cache
def _dummy_hash() -> str:
    """An argon2id hash of a random secret, made once with the module's parameters.

    Checking a password against it when there is no real hash costs as much as a real check, so the time
    a failed login takes does not tell whether the user exists, is active or has a password.
    """
    return _HASHER.hash(secrets.token_urlsafe(32))


def _verify(password_hash: str, password: str) -> bool:
    """Run argon2's check, turning every refusal into False."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        return False


def verify_password(password_hash: str | None, password: str) -> bool:
    """Tell whether a password matches a stored hash, without ever raising, in about the same time always.

    Args:
        password_hash: The stored hash, or None when the user has no usable password (or does not exist):
            the password is then checked against a dummy hash, so the answer takes as long as a real one.
        password: The password to check.

    Returns:
        True only when the hash is a well-formed argon2 hash of ``password``; False for a wrong password,
        a None hash, or a malformed hash.
    """
    if password_hash is None:
        _verify(_dummy_hash(), password)
        return False
    return _verify(password_hash, password)


def rehash_verified(password: str) -> str:
    """Hash a password that was just verified, with the current parameters (upgrading an old hash).

    The strength policy is not applied: refusing a login because today's rules are stricter than the
    ones the password was chosen under would lock the user out rather than protect them.
    """
    return _HASHER.hash(password)


def needs_rehash(password_hash: str) -> bool:
    """Tell whether a hash was made with other parameters than the current ones.

    Call it after a successful :func:`verify_password` and, when True, store a fresh
    :func:`hash_password` of the password the user just typed.

    Args:
        password_hash: A stored argon2 hash.

    Returns:
        True when the hash's type, cost, length or salt length differ from the module's hasher; also True
        for a malformed hash, which must be replaced anyway.
    """
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _has_every_class(candidate: str) -> bool:
    """Whether a candidate holds a lower-case letter, an upper-case letter, a digit and a symbol."""
    return all(any(char in chars for char in candidate) for chars in _GENERATED_CLASSES)


def generate_password(length: int = 20) -> str:
    """Make a random password that passes :func:`check_password_strength`, and keep it out of logs.

    The result mixes letters, digits and a few symbols (at least one of each), is drawn from
    :mod:`secrets`, and is registered with :func:`stratlogic.logs.register_secret`.

    Args:
        length: How many characters, from 12 to 1024.

    Returns:
        The new password.

    Raises:
        ValidationError: When ``length`` is outside 12..1024.
    """
    if not MIN_LENGTH <= length <= MAX_LENGTH:
        raise ValidationError(f"password length must be from {MIN_LENGTH} to {MAX_LENGTH}, got {length}")
    while True:
        candidate = "".join(secrets.choice(_GENERATED_ALPHABET) for _ in range(length))
        if _has_every_class(candidate) and not _weakness_reasons(candidate, None, None):
            register_secret(candidate)
            return candidate


def generate_token(nbytes: int = 32) -> str:
    """Make a random URL-safe token (for API tokens and the like).

    Args:
        nbytes: How many random bytes; the text is about 1.3 times longer.

    Returns:
        The token, from :func:`secrets.token_urlsafe`.
    """
    return secrets.token_urlsafe(nbytes)


def hash_token(token: str) -> str:
    """Hash a token for storage: tokens are long and random, so a plain SHA-256 is enough.

    Args:
        token: The token as given to the user.

    Returns:
        The SHA-256 of the token's UTF-8 bytes, as 64 lower-case hex digits.
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


__all__ = [
    "MAX_LENGTH",
    "MIN_DISTINCT_CHARACTERS",
    "MIN_IDENTITY_LENGTH",
    "MIN_LENGTH",
    "WeakPasswordError",
    "check_password_strength",
    "generate_password",
    "generate_token",
    "hash_password",
    "hash_token",
    "needs_rehash",
    "rehash_verified",
    "verify_password",
]

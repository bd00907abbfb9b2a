"""Password hashing, strength rules, generated passwords and token hashing."""

from __future__ import annotations

import importlib.resources
import re

import pytest
from argon2 import PasswordHasher

from stratlogic.errors import ValidationError
from stratlogic.logs import MASK, redact
from stratlogic.security import (
    WeakPasswordError,
    check_password_strength,
    generate_password,
    generate_token,
    hash_password,
    hash_token,
    needs_rehash,
    verify_password,
)

STRONG = "Velvet-Orbit-Canyon-58"


@pytest.fixture(scope="module")
def strong_hash() -> str:
    """One hash of the strong password, shared to keep the slow argon2 calls few."""
    return hash_password(STRONG)


def test_hash_is_argon2id_with_configured_parameters(strong_hash: str) -> None:
    assert strong_hash.startswith("$argon2id$v=19$")
    assert "$m=65536,t=3,p=4$" in strong_hash
    assert STRONG not in strong_hash


def test_hashes_of_one_password_are_salted_differently(strong_hash: str) -> None:
    assert hash_password(STRONG) != strong_hash


def test_verify_accepts_the_right_password(strong_hash: str) -> None:
    assert verify_password(strong_hash, STRONG) is True


def test_verify_refuses_a_wrong_password(strong_hash: str) -> None:
    assert verify_password(strong_hash, STRONG + "x") is False


def test_verify_refuses_when_there_is_no_hash() -> None:
    assert verify_password(None, STRONG) is False


@pytest.mark.parametrize(
    "malformed",
    [
        "",
        "not-a-hash",
        "$argon2id$v=19$m=65536,t=3,p=4$garbage",
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$aGFzaA",
        "é$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
        "$2b$12$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
    ],
)
def test_verify_refuses_a_malformed_hash_without_raising(malformed: str) -> None:
    assert verify_password(malformed, STRONG) is False


def test_needs_rehash_is_false_for_a_current_hash(strong_hash: str) -> None:
    assert needs_rehash(strong_hash) is False


def test_needs_rehash_is_true_for_other_parameters() -> None:
    old = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(STRONG)
    assert needs_rehash(old) is True
    assert verify_password(old, STRONG) is True


def test_needs_rehash_is_true_for_a_malformed_hash() -> None:
    assert needs_rehash("not-a-hash") is True


def test_hash_password_refuses_a_weak_password_before_hashing() -> None:
    with pytest.raises(WeakPasswordError) as caught:
        hash_password("short1!")
    assert isinstance(caught.value, ValidationError)
    assert caught.value.reasons == ["is shorter than 12 characters"]


def test_hash_password_checks_against_the_username() -> None:
    with pytest.raises(WeakPasswordError, match="contains the username"):
        hash_password("Velvet-margaret-58", username="Margaret")


@pytest.mark.parametrize(
    ("password", "identity", "reason"),
    [
        ("Xq9#zT", {}, "shorter than 12 characters"),
        ("Gq7!" * 257, {}, "longer than 1024 characters"),
        ("qwertyuiop", {}, "common password"),
        ("Qwertyuiop1234!!", {}, "common password"),
        ("Sunshine_2024?", {}, "common password"),
        ("Orbit-Hermione-77", {"username": "hermione"}, "contains the username"),
        ("Orbit-HERMIONE-77", {"username": "Hermione"}, "contains the username"),
        ("Canyon-jdoe42-Orbit", {"email": "JDoe42@example.org"}, "contains the local part of the email"),
        ("abababababababab", {}, "fewer than 5 distinct characters"),
        ("zz11zz11zz11zz11", {}, "fewer than 5 distinct characters"),
    ],
)
def test_weak_password_is_refused_with_the_reason(password: str, identity: dict[str, str], reason: str) -> None:
    with pytest.raises(WeakPasswordError) as caught:
        check_password_strength(password, **identity)
    message = str(caught.value)
    assert reason in message
    assert any(reason in listed for listed in caught.value.reasons)
    assert password.casefold() not in message.casefold()


def test_every_broken_rule_is_listed() -> None:
    with pytest.raises(WeakPasswordError) as caught:
        check_password_strength("Dragon1!", username="dragon")
    reasons = caught.value.reasons
    assert len(reasons) == 3
    for reason, expected in zip(reasons, ["shorter than", "common password", "contains the username"], strict=True):
        assert expected in reason
    assert "Dragon1!" not in str(caught.value)


@pytest.mark.parametrize(
    "identity",
    [
        {},
        {"username": "ada", "email": "ada.lovelace@example.org"},
        {"username": "ve", "email": "or@example.org"},
    ],
)
def test_strong_password_is_accepted(identity: dict[str, str]) -> None:
    check_password_strength(STRONG, **identity)


def test_common_list_is_loaded_from_package_data() -> None:
    text = (importlib.resources.files("stratlogic") / "data" / "common-passwords.txt").read_text(encoding="utf-8")
    entries = text.splitlines()
    assert len(entries) >= 300
    assert all(entry == entry.strip().lower() and entry for entry in entries)
    assert len(set(entries)) == len(entries)
    for entry in ("letmein", "iloveyou", "football"):
        with pytest.raises(WeakPasswordError, match="common password"):
            check_password_strength(entry.upper() + "2024!!")


@pytest.mark.parametrize("length", [12, 20, 64])
def test_generated_password_is_strong_and_of_the_requested_length(length: int) -> None:
    password = generate_password(length)
    assert len(password) == length
    check_password_strength(password)


def test_generated_passwords_differ() -> None:
    first, second = generate_password(), generate_password()
    assert first != second
    assert len(first) == 20


def test_generated_passwords_always_mix_character_kinds() -> None:
    # At length 12 about one draw in five would lack a symbol by chance, so 200 draws catch a missing guarantee.
    for password in (generate_password(12) for _ in range(200)):
        for kind in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"):
            assert re.search(kind, password), kind


def test_generated_password_is_redacted_from_logs() -> None:
    password = generate_password()
    assert redact(f"new password {password} set") == f"new password {MASK} set"


@pytest.mark.parametrize("length", [11, 1025])
def test_generate_password_refuses_a_length_it_cannot_honour(length: int) -> None:
    with pytest.raises(ValidationError, match=f"got {length}"):
        generate_password(length)


def test_generated_tokens_are_url_safe_and_differ() -> None:
    first, second = generate_token(), generate_token()
    assert first != second
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", first)
    assert len(generate_token(16)) == 22


def test_hash_token_is_deterministic_sha256_hex() -> None:
    token = generate_token()
    digest = hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert hash_token(token) == digest
    assert hash_token(token + "x") != digest
    assert hash_token("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

"""Settings: defaults, home-relative paths, .env, bad values named, secrets hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratlogic.config import default_home, display_url, load_settings
from stratlogic.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No STRATLOGIC_* variable from the caller's shell leaks into these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("STRATLOGIC_"):
            monkeypatch.delenv(name)


def test_defaults_are_the_embedded_sqlite_file_and_local_folder(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    assert settings.backend == "sqlite"
    assert settings.url.database == str(tmp_path / "var/stratlogic.db")
    assert settings.artifact_path == tmp_path / "var/artifacts"
    assert settings.log_level == "INFO"
    assert settings.admin_password is None


def test_home_defaults_to_the_checkout_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    assert (default_home() / "alembic.ini").is_file()
    monkeypatch.setenv("STRATLOGIC_HOME", str(tmp_path))
    assert default_home() == tmp_path.resolve()


def test_dotenv_in_home_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("STRATLOGIC_LOG_LEVEL=debug\nSTRATLOGIC_POOL_SIZE=7\n")
    monkeypatch.setenv("STRATLOGIC_POOL_SIZE", "9")
    settings = load_settings(home=tmp_path)
    assert settings.log_level == "DEBUG"
    assert settings.pool_size == 9


def test_postgres_url_gets_the_psycopg_driver(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, database_url="postgresql://u:pw@db.example/x")
    assert settings.url.drivername == "postgresql+psycopg"
    assert settings.backend == "postgresql"


@pytest.mark.parametrize(
    ("variable", "value", "fragment"),
    [
        ("STRATLOGIC_POOL_SIZE", "abc", "valid integer"),
        ("STRATLOGIC_POOL_SIZE", "0", "greater than or equal to 1"),
        ("STRATLOGIC_DATABASE_URL", "mysql://root@localhost/x", "unsupported database scheme 'mysql'"),
        ("STRATLOGIC_DATABASE_URL", "not a url", "not a database URL"),
        ("STRATLOGIC_DATABASE_URL", "sqlite://", "in-memory SQLite is not supported"),
        ("STRATLOGIC_ARTIFACT_STORE", "ftp://host/x", "unsupported artifact store 'ftp://host/x'"),
        ("STRATLOGIC_ARTIFACT_STORE", "s3://Bad_Bucket", "not a valid bucket name"),
        ("STRATLOGIC_LOG_LEVEL", "loud", "LOUD"),
        ("STRATLOGIC_S3_SECURE", "maybe", "valid boolean"),
        ("STRATLOGIC_CONNECT_TIMEOUT", "1.5s", "valid integer"),
    ],
)
def test_bad_value_fails_naming_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str,
                                             value: str, fragment: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(home=tmp_path)
    assert caught.value.variable == variable
    assert str(caught.value).startswith(f"{variable}: ")
    assert fragment in str(caught.value)


def test_s3_store_requires_an_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRATLOGIC_ARTIFACT_STORE", "s3://artifacts")
    with pytest.raises(ConfigError, match="STRATLOGIC_S3_ENDPOINT: required"):
        load_settings(home=tmp_path)


def test_secrets_never_appear_in_repr_str_or_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRATLOGIC_ADMIN_PASSWORD", "Sup3r-Secret-Admin-Pass")
    monkeypatch.setenv("STRATLOGIC_AUDIT_KEY", "audit-key-material-xyz")
    monkeypatch.setenv("STRATLOGIC_DATABASE_URL", "postgresql://app:db-pass-9876@db.example/x")
    settings = load_settings(home=tmp_path)
    shown = repr(settings) + str(settings) + settings.safe_url
    for secret in ("Sup3r-Secret-Admin-Pass", "audit-key-material-xyz", "db-pass-9876"):
        assert secret not in shown
    assert settings.admin_password is not None
    assert settings.admin_password.get_secret_value() == "Sup3r-Secret-Admin-Pass"
    monkeypatch.setenv("STRATLOGIC_DATABASE_URL", "mysql://app:db-pass-9876@db.example/x")
    with pytest.raises(ConfigError) as caught:
        load_settings(home=tmp_path)
    assert "db-pass-9876" not in str(caught.value)


def test_bad_value_is_named_in_the_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("STRATLOGIC_POOL_SIZE", "lots")
    with pytest.raises(ConfigError, match="got 'lots'"):
        load_settings(home=tmp_path)


@pytest.mark.parametrize("name", ["password", "PASSWORD", "sslpassword", "passfile", "service", "sslkey"])
def test_query_values_that_may_be_secret_are_masked(tmp_path: Path, name: str) -> None:
    settings = load_settings(home=tmp_path, database_url=f"postgresql://postgres@h:1/x?{name}=Sup3rSecretPW"
                                                         "&sslmode=require&application_name=cli")
    assert settings.safe_url == f"postgresql+psycopg://postgres@h:1/x?{name}=***&sslmode=require&application_name=cli"
    assert display_url(settings.url) == settings.safe_url


def test_display_url_masks_the_password_and_every_repeated_query_value() -> None:
    shown = display_url("postgresql://app:pw-1234@h/x?password=first-secret&password=second-secret")
    assert shown == "postgresql://app:***@h/x?password=***&password=***"


@pytest.mark.parametrize("url", ["postgresql://app:p@ssSecretPW@db.example/x",  # '@' ends up in the host
                                 "postgresql://app:p@ss:SecretPW@db.example/x",  # and in the port
                                 "postgresql://app:p@ss:12@db.example/x",
                                 "not a url"])
def test_unparsable_url_is_refused_without_its_secret_part(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(home=tmp_path, database_url=url)
    assert str(caught.value) == (  # a fixed message: nothing of the URL, whose parts may hold the password
        "STRATLOGIC_DATABASE_URL: not a database URL (expected e.g. sqlite:///var/stratlogic.db); if the password "
        "holds '@', ':', '/' or '?', percent-encode them (%40, %3A, %2F, %3F)")
    assert caught.value.__cause__ is None

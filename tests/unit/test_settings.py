"""Settings: defaults, aliases, one clear line per bad value."""

from __future__ import annotations

import pytest

from pims_sync.errors import ConfigError
from pims_sync.settings import load_settings

KEY = "k" * 32


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in (
        "DATABASE_URL",
        "SUPABASE_DB_URL",
        "ENCRYPTION_KEY",
        "IDEXX_ENCRYPTION_KEY",
        "PORT",
        "NODE_ENV",
        "ENVIRONMENT",
        "SUPABASE_URL",
        "IDEXX_BASE_URL",
        "LOG_LEVEL",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(str(tmp_path))


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.database_url == "sqlite:///./pims-sync.db"
    assert settings.port == 3001
    assert settings.host == "0.0.0.0"
    assert settings.is_sqlite
    assert settings.sync_timeout_ms == 300_000
    assert (settings.pims_max_concurrency, settings.pims_rate_limit_per_second) == (5, 10)


def test_aliases_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPABASE_DB_URL", "postgresql://u@db.example/postgres")
    monkeypatch.setenv("IDEXX_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("NODE_ENV", "production")
    settings = load_settings()
    assert settings.database_url.startswith("postgresql://")
    assert settings.encryption_key == KEY
    assert settings.environment == "production"


def test_short_key_gives_the_spec_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENCRYPTION_KEY", "short")
    with pytest.raises(ConfigError) as error:
        load_settings()
    assert str(error.value) == "ENCRYPTION_KEY must be at least 32 characters"


def test_every_bad_value_gets_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "99999")
    monkeypatch.setenv("IDEXX_BASE_URL", "not a url")
    monkeypatch.setenv("DATABASE_URL", "mysql://x")
    with pytest.raises(ConfigError) as error:
        load_settings()
    lines = str(error.value).splitlines()
    assert len(lines) == 3
    assert any(line.startswith("PORT:") for line in lines)
    assert any(line.startswith("IDEXX_BASE_URL:") for line in lines)
    assert any(line.startswith("DATABASE_URL:") for line in lines)


def test_supabase_rest_settings_point_to_the_connection_string(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SUPABASE_URL", "https://abc.supabase.co")
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings()


def test_encryption_key_required_only_when_asked() -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match="ENCRYPTION_KEY is required"):
        settings.require_encryption_key()

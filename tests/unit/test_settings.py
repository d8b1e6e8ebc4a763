"""Settings: defaults, aliases, one clear line per bad value."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from pydantic import AliasChoices

from pims_sync.errors import ConfigError
from pims_sync.settings import Settings, load_settings

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
    assert settings.require_encryption_key() == KEY
    assert settings.environment == "production"


def test_secrets_never_show_in_a_repr_or_a_dump() -> None:
    token = "metrics-token-of-the-test-0042"
    settings = load_settings(
        encryption_key=KEY, encryption_key_previous="p" * 32, metrics_token=token
    )
    shown = f"{settings!r} {settings} {settings.model_dump()}"
    for secret in (KEY, "p" * 32, token):
        assert secret not in shown
    assert settings.require_encryption_key() == KEY
    assert settings.previous_encryption_key() == "p" * 32
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == token


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


# --- ENVIRONMENT / NODE_ENV and the log level (the original's verbose mode) ---


@pytest.mark.parametrize("name", ["NODE_ENV", "ENVIRONMENT"])
def test_development_set_on_purpose_logs_at_debug(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "development")
    settings = load_settings()
    assert (settings.environment, settings.log_level) == ("development", "debug")


def test_the_built_in_environment_keeps_info() -> None:
    settings = load_settings()
    assert (settings.environment, settings.log_level) == ("development", "info")


@pytest.mark.parametrize("environment", ["production", "test"])
def test_other_environments_keep_info(monkeypatch: pytest.MonkeyPatch, environment: str) -> None:
    monkeypatch.setenv("NODE_ENV", environment)
    assert load_settings().log_level == "info"


def test_an_explicit_log_level_wins_over_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ENV", "development")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert load_settings().log_level == "warning"


def test_node_env_in_a_dotenv_file_counts(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("NODE_ENV=development\n", encoding="utf-8")
    assert load_settings().log_level == "debug"  # the fixture made tmp_path the working dir


def test_environment_outranks_node_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODE_ENV", "development")
    monkeypatch.setenv("ENVIRONMENT", "production")
    settings = load_settings()
    assert (settings.environment, settings.log_level) == ("production", "info")


def image_environment() -> dict[str, str]:
    """The settings the Docker image sets (the ENV instruction of its final stage)."""
    text = (Path(__file__).resolve().parents[2] / "Dockerfile").read_text(encoding="utf-8")
    instruction = text.replace("\\\n", " ").split("\nENV ")[-1].split("\n", 1)[0]
    pairs = dict(item.split("=", 1) for item in shlex.split(instruction))
    return {name: value for name, value in pairs.items() if name in SETTING_NAMES}


SETTING_NAMES = {
    str(choice)
    for field in Settings.model_fields.values()
    if isinstance(field.validation_alias, AliasChoices)
    for choice in field.validation_alias.choices
}


def test_the_image_runs_production_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in image_environment().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.environment, settings.log_level) == ("production", "info")


@pytest.mark.parametrize("name", ["NODE_ENV", "ENVIRONMENT"])
def test_a_users_environment_wins_over_the_image(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """`docker run -e NODE_ENV=development` (or ENVIRONMENT) is not overridden by the image."""
    for image_name, value in {**image_environment(), name: "development"}.items():
        monkeypatch.setenv(image_name, value)
    settings = load_settings()
    assert (settings.environment, settings.log_level) == ("development", "debug")

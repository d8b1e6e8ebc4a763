"""Settings from the environment and `.env`, validated once by the entry point.

Secrets (the encryption keys, METRICS_TOKEN) are `SecretStr`: shown as `**********` in a
repr, a log line or an error, read only where used, with `.get_secret_value()`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from pims_sync.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///./pims-sync.db"
MIN_KEY_LENGTH = 32
MIN_TOKEN_LENGTH = 16
BROWSER_CANDIDATES = ("/usr/bin/chromium", "/usr/lib/chromium/chromium")


class Settings(BaseSettings):
    """Every setting of the service; see the README's configuration table."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str = Field(
        DEFAULT_DATABASE_URL, validation_alias=AliasChoices("DATABASE_URL", "SUPABASE_DB_URL")
    )
    encryption_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ENCRYPTION_KEY", "IDEXX_ENCRYPTION_KEY")
    )
    encryption_key_previous: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ENCRYPTION_KEY_PREVIOUS")
    )
    port: int = Field(3001, ge=1, le=65535, validation_alias=AliasChoices("PORT"))
    host: str = Field("0.0.0.0", validation_alias=AliasChoices("HOST"))  # noqa: S104
    environment: Literal["development", "production", "test"] = Field(
        "development", validation_alias=AliasChoices("ENVIRONMENT", "NODE_ENV")
    )
    headless: bool = Field(True, validation_alias=AliasChoices("HEADLESS"))
    browser_executable_path: str | None = Field(
        None, validation_alias=AliasChoices("BROWSER_EXECUTABLE_PATH")
    )
    # Chromium's own sandbox: needs a non-root user and user namespaces (docs/deploy.md).
    browser_sandbox: bool = Field(False, validation_alias=AliasChoices("BROWSER_SANDBOX"))
    # Chromium and its driver stop once no login has been in progress for this long.
    browser_idle_seconds: float = Field(
        60, ge=0, le=86_400, validation_alias=AliasChoices("BROWSER_IDLE_SECONDS")
    )
    idexx_base_url: str = Field(
        "https://us.idexxneo.com", validation_alias=AliasChoices("IDEXX_BASE_URL")
    )
    # Connections of this process's SQLAlchemy pool, whatever the clinics or concurrent runs
    # (procrastinate's own pool comes on top on Postgres: docs/deploy.md).
    database_pool_size: int = Field(
        10, ge=1, le=200, validation_alias=AliasChoices("DATABASE_POOL_SIZE")
    )
    enable_scheduler: bool = Field(True, validation_alias=AliasChoices("ENABLE_SCHEDULER"))
    scheduler_tick_seconds: float = Field(
        15, ge=0.2, le=60, validation_alias=AliasChoices("SCHEDULER_TICK_SECONDS")
    )
    # A run silent this long belongs to a dead process (runs beat every min(30 s, a
    # quarter of it)); keep it at a minute or more outside tests.
    run_stale_seconds: float = Field(
        120, ge=2, le=3600, validation_alias=AliasChoices("RUN_STALE_SECONDS")
    )
    shutdown_grace_seconds: float = Field(
        30, ge=0, le=3600, validation_alias=AliasChoices("SHUTDOWN_GRACE_SECONDS")
    )
    worker_concurrency: int = Field(
        4, ge=1, le=100, validation_alias=AliasChoices("WORKER_CONCURRENCY")
    )
    sync_timeout_ms: int = Field(300_000, ge=1000, validation_alias=AliasChoices("SYNC_TIMEOUT_MS"))
    pims_max_concurrency: int = Field(
        5, ge=1, le=100, validation_alias=AliasChoices("PIMS_MAX_CONCURRENCY")
    )
    pims_rate_limit_per_second: float = Field(
        10, gt=0, le=1000, validation_alias=AliasChoices("PIMS_RATE_LIMIT_PER_SECOND")
    )
    # Schedules fire at most this often (a clinic key can write its own schedules).
    schedule_min_interval_seconds: int = Field(
        300, ge=1, le=86_400, validation_alias=AliasChoices("SCHEDULE_MIN_INTERVAL_SECONDS")
    )
    # PIMS requests one clinic may send per UTC day, all processes together.
    pims_daily_request_budget: int = Field(
        20_000, ge=1, validation_alias=AliasChoices("PIMS_DAILY_REQUEST_BUDGET")
    )
    # Fresh PIMS logins one clinic may make per UTC day (a clinic may set its own).
    pims_daily_login_budget: int = Field(
        12, ge=0, le=1000, validation_alias=AliasChoices("PIMS_DAILY_LOGIN_BUDGET")
    )
    # How often a scheduler decides every clinic's freshness again (stale without a run).
    freshness_check_seconds: float = Field(
        60, ge=1, le=3600, validation_alias=AliasChoices("FRESHNESS_CHECK_SECONDS")
    )
    pims_allow_private_base_url: bool = Field(
        False, validation_alias=AliasChoices("PIMS_ALLOW_PRIVATE_BASE_URL")
    )
    # Webhooks (docs/webhooks.md): private targets, the receiver's time, how often due
    # deliveries are looked for, delivery jobs at once per worker, and a test-only scale.
    webhooks_allow_private: bool = Field(
        False, validation_alias=AliasChoices("WEBHOOKS_ALLOW_PRIVATE")
    )
    webhooks_timeout_seconds: float = Field(
        10, ge=1, le=60, validation_alias=AliasChoices("WEBHOOKS_TIMEOUT_SECONDS")
    )
    webhooks_poll_seconds: float = Field(
        1, ge=0.05, le=60, validation_alias=AliasChoices("WEBHOOKS_POLL_SECONDS")
    )
    webhooks_concurrency: int = Field(
        4, ge=1, le=100, validation_alias=AliasChoices("WEBHOOKS_CONCURRENCY")
    )
    webhooks_retry_scale: float = Field(
        1, gt=0, le=1, validation_alias=AliasChoices("WEBHOOKS_RETRY_SCALE")
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", validation_alias=AliasChoices("LOG_LEVEL")
    )
    supabase_url: str | None = Field(None, validation_alias=AliasChoices("SUPABASE_URL"))
    # The HTTP edge (docs/security.md): who may read metrics, the docs pages, and what a
    # client may hold open.
    metrics_token: SecretStr | None = Field(None, validation_alias=AliasChoices("METRICS_TOKEN"))
    api_docs: bool | None = Field(None, validation_alias=AliasChoices("API_DOCS"))
    # Signs and seals the web dashboard's cookies (docs/dashboard.md); unset: no dashboard.
    dashboard_secret: SecretStr | None = Field(
        None, validation_alias=AliasChoices("DASHBOARD_SECRET")
    )
    # Availability answers from the mirror; older than this, the asked days are read first.
    availability_max_age_seconds: float = Field(
        300, ge=0, le=86_400, validation_alias=AliasChoices("AVAILABILITY_MAX_AGE_SECONDS")
    )
    # How long an availability call may wait for that read before answering as it is.
    availability_refresh_deadline_seconds: float = Field(
        8, ge=0, le=60, validation_alias=AliasChoices("AVAILABILITY_REFRESH_DEADLINE_SECONDS")
    )
    sse_max_streams_per_key: int = Field(
        10, ge=1, le=1000, validation_alias=AliasChoices("SSE_MAX_STREAMS_PER_KEY")
    )
    http_max_connections: int = Field(
        500, ge=1, le=100_000, validation_alias=AliasChoices("HTTP_MAX_CONNECTIONS")
    )
    http_request_timeout_seconds: float = Field(
        30, gt=0, le=3600, validation_alias=AliasChoices("HTTP_REQUEST_TIMEOUT_SECONDS")
    )
    http_keep_alive_seconds: int = Field(
        5, ge=1, le=3600, validation_alias=AliasChoices("HTTP_KEEP_ALIVE_SECONDS")
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        scheme = urlsplit(value).scheme.split("+")[0]
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        return value

    @field_validator("encryption_key", "encryption_key_previous")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_KEY_LENGTH} characters")
        return value

    @field_validator("metrics_token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        token = "" if value is None else value.get_secret_value()
        if not token:
            return None  # METRICS_TOKEN= (empty) leaves /metrics open, as unset does
        if len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return value

    @field_validator("dashboard_secret")
    @classmethod
    def _dashboard_secret_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        secret = "" if value is None else value.get_secret_value()
        if not secret:
            return None  # DASHBOARD_SECRET= (empty) leaves the dashboard off, as unset does
        if len(secret) < MIN_KEY_LENGTH:
            raise ValueError(f"must be at least {MIN_KEY_LENGTH} characters")
        return value

    @field_validator("idexx_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower_level(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _verbose_in_development(self) -> Settings:
        # The original's verbose mode: ENVIRONMENT (or NODE_ENV) set to development, and no
        # LOG_LEVEL, logs at debug. The built-in default environment does not count.
        development = self.environment == "development" and "environment" in self.model_fields_set
        if development and "log_level" not in self.model_fields_set:
            self.log_level = "debug"
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def docs_enabled(self) -> bool:
        """Whether `/docs` and `/redoc` are served: API_DOCS, else all but production."""
        return self.api_docs if self.api_docs is not None else self.environment != "production"

    def require_encryption_key(self) -> str:
        """The encryption key's value, or a ConfigError saying it is needed."""
        if self.encryption_key is None:
            raise ConfigError(
                "ENCRYPTION_KEY is required (at least 32 characters; "
                "generate one with: openssl rand -base64 32)"
            )
        return self.encryption_key.get_secret_value()

    def previous_encryption_key(self) -> str | None:
        """ENCRYPTION_KEY_PREVIOUS's value, when a key rotation is under way."""
        previous = self.encryption_key_previous
        return None if previous is None else previous.get_secret_value()

    def browser_path(self) -> str | None:
        """The Chromium to launch: the configured one, else the first found."""
        if self.browser_executable_path:
            return self.browser_executable_path
        for candidate in BROWSER_CANDIDATES:
            if Path(candidate).exists():
                return candidate
        return shutil.which("chromium")


ENV_NAMES = {
    "database_url": "DATABASE_URL",
    "database_pool_size": "DATABASE_POOL_SIZE",
    "encryption_key": "ENCRYPTION_KEY",
    "encryption_key_previous": "ENCRYPTION_KEY_PREVIOUS",
    "idexx_base_url": "IDEXX_BASE_URL",
    "sync_timeout_ms": "SYNC_TIMEOUT_MS",
    "pims_max_concurrency": "PIMS_MAX_CONCURRENCY",
    "pims_rate_limit_per_second": "PIMS_RATE_LIMIT_PER_SECOND",
    "log_level": "LOG_LEVEL",
    "enable_scheduler": "ENABLE_SCHEDULER",
    "scheduler_tick_seconds": "SCHEDULER_TICK_SECONDS",
    "run_stale_seconds": "RUN_STALE_SECONDS",
    "shutdown_grace_seconds": "SHUTDOWN_GRACE_SECONDS",
    "worker_concurrency": "WORKER_CONCURRENCY",
    "browser_idle_seconds": "BROWSER_IDLE_SECONDS",
    "schedule_min_interval_seconds": "SCHEDULE_MIN_INTERVAL_SECONDS",
    "pims_daily_request_budget": "PIMS_DAILY_REQUEST_BUDGET",
    "pims_daily_login_budget": "PIMS_DAILY_LOGIN_BUDGET",
    "freshness_check_seconds": "FRESHNESS_CHECK_SECONDS",
    "pims_allow_private_base_url": "PIMS_ALLOW_PRIVATE_BASE_URL",
    "webhooks_allow_private": "WEBHOOKS_ALLOW_PRIVATE",
    "webhooks_timeout_seconds": "WEBHOOKS_TIMEOUT_SECONDS",
    "webhooks_poll_seconds": "WEBHOOKS_POLL_SECONDS",
    "webhooks_concurrency": "WEBHOOKS_CONCURRENCY",
    "webhooks_retry_scale": "WEBHOOKS_RETRY_SCALE",
    "availability_max_age_seconds": "AVAILABILITY_MAX_AGE_SECONDS",
    "availability_refresh_deadline_seconds": "AVAILABILITY_REFRESH_DEADLINE_SECONDS",
    "sse_max_streams_per_key": "SSE_MAX_STREAMS_PER_KEY",
    "http_max_connections": "HTTP_MAX_CONNECTIONS",
    "http_request_timeout_seconds": "HTTP_REQUEST_TIMEOUT_SECONDS",
    "http_keep_alive_seconds": "HTTP_KEEP_ALIVE_SECONDS",
    "dashboard_secret": "DASHBOARD_SECRET",
}


def _secret_names() -> frozenset[str]:
    """The SecretStr settings, by field name and by every variable name they are read from."""
    names: set[str] = set()
    for name, field in Settings.model_fields.items():
        if SecretStr in get_args(field.annotation):
            names.add(name)
            if isinstance(field.validation_alias, AliasChoices):
                names.update(str(choice) for choice in field.validation_alias.choices)
    return frozenset(names)


# A bad value of a secret is described without being repeated.
SECRET_NAMES = _secret_names()


def _describe(error: dict[str, object]) -> str:
    """One line for one invalid value, named as the user wrote it (the env variable)."""
    loc = error.get("loc") or ("?",)
    field = str(loc[0]) if isinstance(loc, tuple) else str(loc)
    name = ENV_NAMES.get(field, field.upper())
    message = str(error.get("msg", "is invalid")).removeprefix("Value error, ")
    if field in SECRET_NAMES:
        return f"{name} {message}"  # never echo a secret back
    return f"{name}: {message} (got {error.get('input')!r})"


def load_settings(**overrides: object) -> Settings:
    """Build the settings, raising one ConfigError whose lines name every bad value."""
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        lines = [_describe(dict(item)) for item in error.errors()]
        raise ConfigError("\n".join(lines)) from None
    if settings.supabase_url and settings.database_url == DEFAULT_DATABASE_URL:
        raise ConfigError(
            "SUPABASE_URL is set but DATABASE_URL is not: pims-sync talks to Postgres directly; "
            "set DATABASE_URL to the project's Postgres connection string "
            "(Supabase dashboard > Project Settings > Database)"
        )
    return settings

"""The composition root: Settings → concrete adapters → a Services bundle."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.api_keys import SqlApiKeyStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.credentials import SqlCredentialStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.vault import SqlCredentialVault
from pims_sync.metrics import Metrics
from pims_sync.settings import Settings


@dataclass
class Services:
    """Everything the entry points (API, CLI, worker) need, built once per process."""

    settings: Settings
    engine: AsyncEngine
    clinics: SqlClinicStore
    api_keys: SqlApiKeyStore
    credentials: SqlCredentialStore
    credential_vault: SqlCredentialVault | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    metrics: Metrics = field(default_factory=Metrics)

    @property
    def vault(self) -> SqlCredentialVault:
        """The credentials vault; ConfigError when ENCRYPTION_KEY is not set."""
        # Built on first use so commands that never touch credentials (db upgrade,
        # the demo's own set-up) start without a key.
        if self.credential_vault is None:
            self.credential_vault = SqlCredentialVault(
                self.engine,
                self.settings.require_encryption_key(),
                self.settings.encryption_key_previous,
            )
        return self.credential_vault

    async def ping_database(self) -> None:
        """One real database round trip (`SELECT 1`); raises when the database does not answer."""
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def aclose(self) -> None:
        """Release the database pool."""
        await self.engine.dispose()


def build_services(settings: Settings) -> Services:
    """Wire the adapters the settings ask for."""
    engine = create_async_db_engine(settings.database_url)
    return Services(
        settings=settings,
        engine=engine,
        clinics=SqlClinicStore(engine),
        api_keys=SqlApiKeyStore(engine),
        credentials=SqlCredentialStore(engine),
    )

"""Encrypted PIMS credential rows (the text the original stores, unchanged)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.tables import pims_credentials, pims_session_cache
from pims_sync.adapters.sql.upsert import insert_for


class SqlCredentialStore:
    """Reads and writes `pims_credentials.encrypted_data`; one transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def put(self, *, clinic_id: UUID, encrypted_data: str, provider_type: str) -> None:
        """Insert or replace the clinic's credentials; the clinic's cached session goes too."""
        now = datetime.now(UTC)
        statement = insert_for(self._engine, pims_credentials).values(
            id=uuid.uuid4(),
            clinic_id=clinic_id,
            provider_type=provider_type,
            encrypted_data=encrypted_data,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[pims_credentials.c.clinic_id],
            set_={
                "encrypted_data": encrypted_data,
                "provider_type": provider_type,
                "updated_at": now,
            },
        )
        forget = delete(pims_session_cache).where(pims_session_cache.c.clinic_id == clinic_id)
        async with self._engine.begin() as conn:
            await conn.execute(statement)
            # A session opened with the old login must not be used with (or sent to) the new.
            await conn.execute(forget)

    async def get(self, clinic_id: UUID) -> str | None:
        """The clinic's encrypted credentials, if stored."""
        query = select(pims_credentials.c.encrypted_data).where(
            pims_credentials.c.clinic_id == clinic_id
        )
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def all(self) -> list[tuple[UUID, str]]:
        """Every (clinic id, encrypted data) pair, for key rotation."""
        query = select(pims_credentials.c.clinic_id, pims_credentials.c.encrypted_data)
        async with self._engine.connect() as conn:
            return [(row.clinic_id, row.encrypted_data) for row in await conn.execute(query)]
